"""Shell completion: the scripts for bash and zsh, and the candidates for a partial
command line (pure; the job names come from a function the caller passes).

bash and zsh call ``kubectl-chronos __complete <words...>``; kubectl 1.26+ itself runs
``kubectl_complete-chronos <words...>`` for ``kubectl chronos <TAB>``. Both print one
candidate a line.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

SHELLS = ("bash", "zsh")
#: The hidden command the scripts call.
COMPLETE = "__complete"
#: Flags followed by a value (the word after one is that value, not a job).
VALUE_FLAGS = frozenset(
    {"-n", "--namespace", "--context", "--kubeconfig", "-o", "--output", "-l", "--selector"}
    | {"--key", "--timeout", "--tz", "--count"}
)

_BASH = """\
# kubectl chronos completion (bash): source <(kubectl-chronos completion bash)
_kubectl_chronos() {
    local IFS=$'\\n'
    COMPREPLY=($(kubectl-chronos __complete "${COMP_WORDS[@]:1:COMP_CWORD}" 2>/dev/null))
}
complete -o default -F _kubectl_chronos kubectl-chronos
"""

_ZSH = """\
#compdef kubectl-chronos
# kubectl chronos completion (zsh): source <(kubectl-chronos completion zsh)
_kubectl_chronos() {
    local -a found
    found=("${(@f)$(kubectl-chronos __complete "${(@)words[2,CURRENT]}" 2>/dev/null)}")
    compadd -a found
}
compdef _kubectl_chronos kubectl-chronos
"""


def script(shell: str) -> str:
    return {"bash": _BASH, "zsh": _ZSH}[shell].rstrip("\n")


def flag_value(words: Sequence[str], *names: str) -> str | None:
    """The value of the last of ``names`` in ``words`` (``-n x`` or ``--namespace=x``)."""
    found = None
    for i, word in enumerate(words):
        key, eq, value = word.partition("=")
        if key in names and eq:
            found = value
        elif word in names and i + 1 < len(words):
            found = words[i + 1]
    return found


def candidates(
    words: Sequence[str],
    flags: Mapping[str, Sequence[str]],
    job_names: Callable[[Sequence[str]], list[str]],
    job_commands: Sequence[str],
) -> list[str]:
    """What may follow ``words`` (the last one is the partial word being completed):
    a command, one of its flags, or a job name for the commands that take one."""
    if not words:
        words = [""]
    partial = words[-1]
    if len(words) == 1:
        return [c for c in flags if c.startswith(partial)]
    command = words[0]
    if partial.startswith("-"):
        return [f for f in flags.get(command, ()) if f.startswith(partial)]
    if words[-2] in VALUE_FLAGS or command not in job_commands:
        return []
    return [n for n in job_names(words) if n.startswith(partial)]
