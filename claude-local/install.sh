#!/usr/bin/env bash
# Installs claude-local: Claude Code against the local llama-server with its own config dir
# (~/.claude-local), leaving the OAuth `claude` setup in ~/.claude alone (only ~/.claude/ide
# is created, for VS Code).
#
# Idempotent: run it again after pulling to re-sync the seeded files. A seeded file you
# changed is kept as FILE.bak before it is replaced.
#
#   claude-local/install.sh            # checks, seeds ~/.claude-local, installs ~/bin/claude-local
#
# Environment: CLAUDE_LOCAL_CONFIG_DIR (default ~/.claude-local), CLAUDE_LOCAL_BIN_DIR
# (default ~/bin).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
config_dir=${CLAUDE_LOCAL_CONFIG_DIR:-$HOME/.claude-local}
bin_dir=${CLAUDE_LOCAL_BIN_DIR:-$HOME/bin}

# 1. Prerequisites. (socat is no longer needed: llws bridges the sandbox itself.)
missing=()
command -v claude >/dev/null 2>&1 || missing+=("claude   npm install -g @anthropic-ai/claude-code")
command -v bwrap >/dev/null 2>&1 || missing+=("bwrap    sudo apt install bubblewrap   (the sandbox: [claude] sandbox = \"fs\" or \"strict\")")
command -v curl >/dev/null 2>&1 || missing+=("curl     sudo apt install curl   (the wrapper's health check)")
if ((${#missing[@]})); then
    echo "Missing prerequisites:" >&2
    printf '  %s\n' "${missing[@]}" >&2
    exit 1
fi

# 2. The seeded config.
install_file() { # source, destination
    local src=$1 dst=$2
    if [[ -f $dst ]] && cmp -s "$src" "$dst"; then
        echo "up to date  $dst"
        return
    fi
    if [[ -f $dst ]]; then
        cp -p "$dst" "$dst.bak"
        echo "updated     $dst (your version: $dst.bak)"
    else
        echo "installed   $dst"
    fi
    cp "$src" "$dst"
}
mkdir -p "$config_dir/skills/project-setup"
install_file "$here/home/settings.json" "$config_dir/settings.json"
install_file "$here/home/CLAUDE.md" "$config_dir/CLAUDE.md"
install_file "$here/home/skills/project-setup/SKILL.md" "$config_dir/skills/project-setup/SKILL.md"

# 3. VS Code: the extension writes its lock files to ~/.claude/ide whatever
#    CLAUDE_CONFIG_DIR says; /ide looks in the config dir.
mkdir -p "$HOME/.claude/ide"
if [[ -L $config_dir/ide || -e $config_dir/ide ]]; then
    echo "kept        $config_dir/ide"
else
    ln -s "$HOME/.claude/ide" "$config_dir/ide"
    echo "linked      $config_dir/ide -> $HOME/.claude/ide"
fi

# 4. Skip Claude Code's first-start screens: merge hasCompletedOnboarding (and a theme when
#    none is set) into .claude.json, keeping everything else in it.
state=$config_dir/.claude.json
if command -v python3 >/dev/null 2>&1; then
    python3 - "$state" <<'PY'
import json, os, sys
path = sys.argv[1]
data = {}
if os.path.exists(path) and os.path.getsize(path) > 0:
    with open(path) as f:
        data = json.load(f)
data["hasCompletedOnboarding"] = True
data.setdefault("theme", "dark")
tmp = path + ".tmp"
with open(tmp, "w") as f:
    json.dump(data, f, indent=2)
    f.write("\n")
os.replace(tmp, path)
PY
    echo "onboarding  $state"
elif [[ ! -s $state ]]; then
    printf '{\n  "hasCompletedOnboarding": true,\n  "theme": "dark"\n}\n' >"$state"
    echo "onboarding  $state"
else
    echo "note: python3 not found; to skip the first-start screens, run: llws claude --setup"
fi

# 5. The wrapper.
mkdir -p "$bin_dir"
install_file "$here/bin/claude-local" "$bin_dir/claude-local"
chmod +x "$bin_dir/claude-local"
case ":$PATH:" in
    *":$bin_dir:"*) ;;
    *)
        echo
        echo "$bin_dir is not on your PATH. Add this to your shell profile:"
        echo "  export PATH=\"$bin_dir:\$PATH\""
        ;;
esac
echo
echo "Done. Run claude-local (with a model loaded in llws), or use the claude pane in llws."
