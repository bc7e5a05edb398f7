#!/bin/bash
# shellcheck shell=bash
# wire-shells.sh: run once at build. Hooks the devbox snippets into the global rc files of bash and
# zsh, sets root's login shell (DEFAULT_SHELL), gives root the skel dotfiles it lacks and prebuilds
# root's zsh completion dump.
set -euo pipefail

default_shell=${1:-/bin/bash}

append_once() {
    local file=$1 line=$2
    [ -e "${file}" ] || return 0
    grep -qxF -- "${line}" "${file}" || printf '\n# gpu-devbox\n%s\n' "${line}" >>"${file}"
}

# bash: /etc/bash.bashrc is read by interactive shells (login ones through /etc/profile).
append_once /etc/bash.bashrc '[ -r /etc/devbox/shell/interactive.sh ] && . /etc/devbox/shell/interactive.sh'

# zsh does not read /etc/profile: wire its login to the same snippet, and its rc to the aliases.
if [ -d /etc/zsh ]; then
    touch /etc/zsh/zprofile /etc/zsh/zshrc
    append_once /etc/zsh/zprofile "[ -r /etc/profile.d/00-devbox.sh ] && emulate sh -c '. /etc/profile.d/00-devbox.sh'"
    append_once /etc/zsh/zshrc "[ -r /etc/devbox/shell/interactive.sh ] && emulate sh -c '. /etc/devbox/shell/interactive.sh'"
fi

if [ ! -x "${default_shell}" ]; then
    echo "DEFAULT_SHELL=${default_shell} is not installed (zsh comes with the shell set)" >&2
    exit 1
fi
grep -qxF -- "${default_shell}" /etc/shells || echo "${default_shell}" >>/etc/shells
usermod --shell "${default_shell}" root

for dotfile in .inputrc .tmux.conf .zshrc; do
    [ -e "/root/${dotfile}" ] || cp "/etc/skel/${dotfile}" "/root/${dotfile}"
done

# Root's zsh completion dump, built now: otherwise the first zsh of every new container spends about a
# second scanning every completion function to write it (~/.zshrc names it per zsh version, not per host).
if command -v zsh >/dev/null; then
    HOME=/root zsh -i -c true </dev/null >/dev/null 2>&1 || echo "wire-shells: zsh completion dump not prebuilt" >&2
fi
