# Shared install steps for scripts/install, scripts/demo and scripts/test
# (sourced, not run). Installs only what is missing, so a second run costs a
# few seconds.

# The clone's real path: links made below must not depend on how it was reached.
CLONE="$(pwd -P)"
VENV="${CLAWFS_VENV:-$CLONE/.venv}"
# Where scripts/install and scripts/demo put the `clawfs` command, its man
# page and completions: the XDG/FHS user directories that PATH (on Debian's
# and Ubuntu's default ~/.profile), man(1) and bash-completion already read.
USER_BIN="${CLAWFS_BIN_DIR:-$HOME/.local/bin}"
USER_SHARE="${CLAWFS_SHARE_DIR:-${XDG_DATA_HOME:-$HOME/.local/share}}"

ensure_system_packages() {
    local missing=()
    command -v fusermount3 >/dev/null 2>&1 || missing+=(fuse3)
    pkg-config --exists fuse3 2>/dev/null || missing+=(libfuse3-dev)
    command -v pkg-config >/dev/null 2>&1 || missing+=(pkg-config)
    command -v getfattr >/dev/null 2>&1 || missing+=(attr)
    command -v tree >/dev/null 2>&1 || missing+=(tree)
    command -v bindfs >/dev/null 2>&1 || missing+=(bindfs)  # a FUSE store for the polling tests
    command -v rsync >/dev/null 2>&1 || missing+=(rsync)  # tests copy the Markdown view with it
    # pyfuse3 has no wheels: pip compiles it, which needs a C compiler and
    # Python's headers; Debian keeps venv's ensurepip in python3-venv.
    command -v gcc >/dev/null 2>&1 || missing+=(gcc)
    python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || missing+=(python3-venv)
    _python_headers || missing+=(python3-dev)
    if [ ${#missing[@]} -gt 0 ]; then
        echo "installing system packages: ${missing[*]}" >&2
        local sudo=""
        [ "$(id -u)" -eq 0 ] || sudo="sudo"
        $sudo apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >&2
    fi
    if ! _python_headers; then
        echo "error: Python.h is missing for $(command -v python3) (install the headers of that Python)" >&2
        return 1
    fi
    if [ ! -e /dev/fuse ]; then
        echo "error: /dev/fuse is missing: load the fuse module (modprobe fuse) or run where FUSE is available" >&2
        return 1
    fi
}

_python_headers() {
    python3 -c 'import os, sysconfig, sys; sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")))' 2>/dev/null
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

# Put `clawfs` on PATH: links in ~/.local/bin and ~/.local/share to this
# checkout's virtualenv and generated files (and a copy of the systemd user
# unit). A file of another program at one of those places is left alone,
# with a warning.
link_user_files() {
    _link "$VENV/bin/clawfs" "$USER_BIN/clawfs"
    _link "$CLONE/scripts/share/man/man1/clawfs.1" "$USER_SHARE/man/man1/clawfs.1"
    _link "$CLONE/scripts/share/bash-completion/completions/clawfs" \
          "$USER_SHARE/bash-completion/completions/clawfs"
    _link "$CLONE/scripts/share/zsh/site-functions/_clawfs" "$USER_SHARE/zsh/site-functions/_clawfs"
    # A copy, not a link: systemd reads its unit search path best with real
    # files. Installed only; enabling it is the user's choice (README).
    local unit="$USER_SHARE/systemd/user/clawfs.service"
    if [ ! -e "$unit" ]; then
        mkdir -p "$(dirname "$unit")"
        cp scripts/share/systemd/user/clawfs.service "$unit"
    elif ! cmp -s scripts/share/systemd/user/clawfs.service "$unit"; then
        echo "note: $unit differs from scripts/share/systemd/user/clawfs.service: left alone" >&2
    fi
    case ":$PATH:" in
        *":$USER_BIN:"*) ;;
        *) echo "note: $USER_BIN is not on your PATH: add it (e.g. in ~/.profile: PATH=\"$USER_BIN:\$PATH\"), or run $USER_BIN/clawfs" >&2 ;;
    esac
}

_link() {
    local target="$1" link="$2"
    if [ -e "$link" ] && [ ! -L "$link" ]; then
        echo "warning: $link exists and is not a link: left alone" >&2
        return 0
    fi
    mkdir -p "$(dirname "$link")"
    ln -sfn "$target" "$link"
}
