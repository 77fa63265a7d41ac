#!/bin/sh
# Re-records the byte streams the snapshot tests replay: real programs in a real llws pane
# (`llws __pane`, 80x24 in tmux), with LLWS_PTY_RECORD copying the program's raw output.
# Run from the repository root after `cargo build`; review the snapshot diffs afterwards.
set -eu
LLWS=${LLWS:-target/debug/llws}
OUT=tests/data
SOCK=llws-record-$$
DEMO=$(mktemp -d)
trap 'tmux -L $SOCK kill-server 2>/dev/null || true; rm -rf "$DEMO"' EXIT
mkdir -p "$DEMO/src" "$DEMO/docs"
printf 'fn main() {\n    println!("hello");\n}\n' > "$DEMO/src/main.rs"
printf '#!/bin/sh\necho run\n' > "$DEMO/run.sh"; chmod +x "$DEMO/run.sh"
ln -s src/main.rs "$DEMO/link.rs"
seq -f 'line %03g of the pager test' 1 120 > "$DEMO/pager.txt"

record() { # name, command, then steps: "key:NAME" presses a key, anything else is typed
    name=$1; cmd=$2; shift 2
    rm -f "$OUT/$name.raw"
    tmux -L $SOCK -f /dev/null new-session -d -x 80 -y 24 -c "$DEMO" \
        -e LLWS_PTY_RECORD="$PWD/$OUT/$name.raw" -e HOME="$DEMO" -e LANG=C.UTF-8 \
        "$PWD/$LLWS __pane -- $cmd"
    sleep 1
    for step in "$@"; do
        case $step in
            key:*) tmux -L $SOCK send-keys "${step#key:}" ;;
            *) tmux -L $SOCK send-keys -l "$step" ;;
        esac
        sleep 0.6
    done
    tmux -L $SOCK kill-server
}

record bash_colors "env -i HOME=$DEMO TERM=xterm-256color LANG=C.UTF-8 PS1='\[\e[1;32m\]demo@llws\[\e[0m\]:\[\e[1;34m\]\w\[\e[0m\]\$ ' bash --norc --noprofile -i" \
    "ls --color=always -F" key:Enter \
    "printf '\e[31mred \e[1;32mbold green \e[0;4munderlined\e[0m \e[38;5;208morange256\e[0m \e[38;2;90;160;255mtruecolor\e[0m\n'" key:Enter \
    "echo 中文 ✓ 😀 done" key:Enter
record less "less pager.txt" key:Space "/line 05" key:Enter
record vim "vim -u NONE -i NONE -N -c 'syntax on' -c 'set number' src/main.rs" "jj" "A // edited" key:Escape
