"""Facts about the machine that several layers need: the mount table, and
where the user's home, claw's config and clawfs's state live. Imports
nothing else of clawfs."""
