# Shared install steps for scripts/test and scripts/demo (sourced, not run).
# Installs only what is missing, so a second run costs a few seconds.

VENV="${CLAWFS_VENV:-$PWD/.venv}"

ensure_system_packages() {
    local missing=()
    command -v fusermount3 >/dev/null 2>&1 || missing+=(fuse3)
    pkg-config --exists fuse3 2>/dev/null || missing+=(libfuse3-dev)
    command -v pkg-config >/dev/null 2>&1 || missing+=(pkg-config)
    command -v getfattr >/dev/null 2>&1 || missing+=(attr)
    command -v tree >/dev/null 2>&1 || missing+=(tree)
    command -v bindfs >/dev/null 2>&1 || missing+=(bindfs)  # a FUSE store for the polling tests
    if [ ${#missing[@]} -gt 0 ]; then
        echo "installing system packages: ${missing[*]}" >&2
        local sudo=""
        [ "$(id -u)" -eq 0 ] || sudo="sudo"
        $sudo apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >&2
    fi
    if [ ! -e /dev/fuse ]; then
        echo "error: /dev/fuse is missing: load the fuse module (modprobe fuse) or run where FUSE is available" >&2
        return 1
    fi
}

ensure_venv() {
    if [ ! -x "$VENV/bin/python" ]; then
        python3 -m venv "$VENV"
    fi
    local stamp="$VENV/.clawfs-installed"
    if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
        echo "installing clawfs into $VENV (pyfuse3 compiles: about half a minute)" >&2
        # pip's and setuptools' chatter goes to a log, shown only on failure.
        local log="$VENV/install.log"
        if ! { "$VENV/bin/pip" install -q --upgrade pip &&
               "$VENV/bin/pip" install -q -e ".[test]"; } >"$log" 2>&1; then
            cat "$log" >&2
            echo "error: installing clawfs failed (log: $log)" >&2
            return 1
        fi
        touch "$stamp"
    fi
}
