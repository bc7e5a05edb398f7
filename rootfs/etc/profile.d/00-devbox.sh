#!/bin/sh
# shellcheck shell=sh
# 00-devbox.sh: sourced by login shells (sh and bash via /etc/profile, zsh via /etc/zsh/zprofile).
# POSIX sh on purpose: dash, bash and zsh all read it. Safe under `set -u`.

# ~/.local/bin first, so `pip install --user` tools win, even before the folder exists.
case ":${PATH}:" in
    *":${HOME:-/root}/.local/bin:"*) ;;
    *) PATH="${HOME:-/root}/.local/bin:${PATH}"; export PATH ;;
esac

# Greeting: interactive login shells only, once per login (nested login shells inherit the marker).
case $- in
    *i*)
        if [ -z "${DEVBOX_GREETED-}" ] && [ -z "${DEVBOX_NO_GREETING-}" ] && [ -x /usr/local/bin/devbox-greeting ]; then
            DEVBOX_GREETED=1
            export DEVBOX_GREETED
            # PS1 exported for the child: NGC's /etc/bash.bashrc (read through BASH_ENV) needs it under set -u.
            PS1="${PS1-\$ }" /usr/local/bin/devbox-greeting
        fi
        ;;
esac
