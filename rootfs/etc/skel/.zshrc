# gpu-devbox ~/.zshrc: Oh My Zsh when the build could fetch it, plain zsh otherwise.
# Aliases and PATH come from /etc/zsh/zshrc; the login greeting from /etc/zsh/zprofile.

export ZSH=/usr/local/share/oh-my-zsh
# One completion dump per zsh version, not per host name (Oh My Zsh's default): the image ships root's
# prebuilt, so the first zsh of every new container (a new host name each) does not rebuild it.
ZSH_COMPDUMP=${XDG_CACHE_HOME:-${HOME}/.cache}/zcompdump-${ZSH_VERSION}
HISTFILE=${HOME}/.zsh_history
HISTSIZE=50000
SAVEHIST=50000
setopt share_history hist_ignore_dups

if [[ -r ${ZSH}/oh-my-zsh.sh ]]; then
    ZSH_THEME=${ZSH_THEME:-robbyrussell}
    ZSH_CACHE_DIR=${XDG_CACHE_HOME:-${HOME}/.cache}/oh-my-zsh  # the shared folder is read-only for users
    mkdir -p "${ZSH_CACHE_DIR}/completions"
    zstyle ':omz:update' mode disabled  # pinned at build; update by rebuilding the image
    plugins=(git)
    source "${ZSH}/oh-my-zsh.sh"
else
    mkdir -p "${XDG_CACHE_HOME:-${HOME}/.cache}"
    autoload -Uz compinit && compinit -u -d "${ZSH_COMPDUMP}"
    PROMPT='%n@%m:%~%# '
fi

for plugin in /usr/share/zsh-autosuggestions/zsh-autosuggestions.zsh \
              /usr/share/zsh-syntax-highlighting/zsh-syntax-highlighting.zsh; do
    [[ -r ${plugin} ]] && source "${plugin}"
done
unset plugin

(( ${+commands[direnv]} )) && eval "$(direnv hook zsh)"
true
