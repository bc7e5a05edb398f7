#!/bin/sh
# shellcheck shell=sh
# interactive.sh: aliases and PATH for interactive shells, login or not.
# Sourced from /etc/bash.bashrc and /etc/zsh/zshrc (hooks added at build by wire-shells). POSIX sh.

case $- in
    *i*)
        case ":${PATH}:" in
            *":${HOME:-/root}/.local/bin:"*) ;;
            *) PATH="${HOME:-/root}/.local/bin:${PATH}"; export PATH ;;
        esac
        alias ls='ls --color=auto'
        alias ll='ls -alF'
        alias la='ls -A'
        alias l='ls -CF'
        alias ..='cd ..'
        alias ...='cd ../..'
        alias grep='grep --color=auto'
        alias df='df -h'
        alias du='du -h'
        alias gs='git status'
        alias gd='git diff'
        alias gl='git log --oneline --graph --decorate -20'
        alias gpus='nvidia-smi'
        alias py='python3'
        if [ -n "${BASH_VERSION-}" ] && command -v direnv >/dev/null 2>&1; then
            eval "$(direnv hook bash)"
        fi
        ;;
esac
