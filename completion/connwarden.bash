# connwarden.bash - bash completion for connwarden(1): the verbs, each verb's options, the PIDs of
# live shimmed processes (from the stats sockets in the run directories), set's setting names,
# check's limits, and for run its options (read from `connwarden --help`) and then the command to
# run.

# PIDs of live processes with a stats socket, searched where connwarden itself looks.
_connwarden_pids() {
  local d s pid
  local dirs=()
  [ -n "${CONNWARDEN_RUNDIR:-}" ] && dirs+=("$CONNWARDEN_RUNDIR")
  [[ ${XDG_RUNTIME_DIR:-} == /* ]] && dirs+=("$XDG_RUNTIME_DIR/connwarden")
  [ "$EUID" -eq 0 ] && dirs+=(/run/connwarden)
  dirs+=("/tmp/connwarden-$EUID")
  for d in "${dirs[@]}"; do
    for s in "$d"/*.sock; do
      [ -S "$s" ] || continue
      pid=${s##*/}
      pid=${pid%.sock}
      [[ $pid =~ ^[0-9]+$ ]] && [ -d "/proc/$pid" ] && printf '%s\n' "$pid"
    done
  done
}

# run's options as "--name" (flags) or "--name=" (taking a value), from the usage text, where each
# option's line is two blanks, "--name [VALUE]" padded to 34 columns, then its description.
_connwarden_run_options() {
  "${1:-connwarden}" --help 2>/dev/null | awk '
    /^run options/ { on = 1; next }
    on && /^$/ { exit }
    on && /^  --/ { n = split(substr($0, 3, 34), w, " "); print (n > 1 ? w[1] "=" : w[1]) }'
}

_connwarden() {
  local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD - 1]}
  local verbs="run stats conns top ls set reap check exporter help --help --version"
  COMPREPLY=()
  if [ "$COMP_CWORD" -eq 1 ]; then
    mapfile -t COMPREPLY < <(compgen -W "$verbs" -- "$cur")
    return
  fi
  local verb=${COMP_WORDS[1]} i
  case $verb in
  stats | conns | top)
    if [[ $cur == -* ]]; then
      case $verb in
      stats) mapfile -t COMPREPLY < <(compgen -W "--json --prom --help" -- "$cur") ;;
      conns) mapfile -t COMPREPLY < <(compgen -W "--json --stacks --help" -- "$cur") ;;
      top) mapfile -t COMPREPLY < <(compgen -W "--help" -- "$cur") ;;
      esac
    elif [[ $cur == */* ]]; then
      mapfile -t COMPREPLY < <(compgen -f -- "$cur")
    else
      mapfile -t COMPREPLY < <(compgen -W "$(_connwarden_pids)" -- "$cur")
    fi
    ;;
  check)
    case $prev in
    --max-abandoned | --max-close-wait) ;; # a number nobody can guess
    --max-queue-wait) mapfile -t COMPREPLY < <(compgen -W off -- "$cur") ;;
    *)
      if [[ $cur == -* ]]; then
        mapfile -t COMPREPLY < <(compgen -W "--all --max-abandoned --max-close-wait --max-queue-wait --help" -- "$cur")
      elif [[ $cur == */* ]]; then
        mapfile -t COMPREPLY < <(compgen -f -- "$cur")
      else
        mapfile -t COMPREPLY < <(compgen -W "$(_connwarden_pids)" -- "$cur")
      fi
      ;;
    esac
    ;;
  set | reap)
    if [ "$COMP_CWORD" -eq 2 ]; then
      mapfile -t COMPREPLY < <(compgen -W "$(_connwarden_pids)" -- "$cur")
    elif [ "$verb" = set ] && [ "$COMP_CWORD" -eq 3 ]; then
      mapfile -t COMPREPLY < <(compgen -W "max_conns max_conns_per_dest idle_timeout max_lifetime evict_idle" -- "$cur")
    fi
    ;;
  exporter)
    [ "$prev" = --listen ] || mapfile -t COMPREPLY < <(compgen -W "--listen --help" -- "$cur")
    ;;
  run)
    # the command starts after "--" or at the first word that is neither an option nor its value
    local opts takes start=0
    opts=$(_connwarden_run_options "${COMP_WORDS[0]}")
    for ((i = 2; i < COMP_CWORD; i++)); do
      local w=${COMP_WORDS[i]}
      if [ "$w" = -- ]; then
        start=$((i + 1))
        break
      elif [[ $w == --* ]]; then
        [[ $w != *=* ]] && grep -qxF -- "$w=" <<<"$opts" && ((i++))
      else
        start=$i
        break
      fi
    done
    if [ "$start" -gt 0 ]; then
      if declare -F _command_offset >/dev/null; then
        _command_offset "$start" # bash-completion: complete the command as if typed alone
      elif [ "$COMP_CWORD" -eq "$start" ]; then
        mapfile -t COMPREPLY < <(compgen -c -- "$cur" | sort -u)
      else
        mapfile -t COMPREPLY < <(compgen -f -- "$cur")
      fi
      return
    fi
    case $prev in
    --on-cap) mapfile -t COMPREPLY < <(compgen -W "queue refuse" -- "$cur") ;;
    --cap-scope) mapfile -t COMPREPLY < <(compgen -W "process tree" -- "$cur") ;;
    --dest-by) mapfile -t COMPREPLY < <(compgen -W "name address" -- "$cur") ;;
    --log) mapfile -t COMPREPLY < <(compgen -W "off error warn info debug" -- "$cur") ;;
    --cap-errno) mapfile -t COMPREPLY < <(compgen -W "ECONNREFUSED ETIMEDOUT ECONNRESET EHOSTUNREACH ENETUNREACH" -- "$cur") ;;
    --stats) mapfile -t COMPREPLY < <(compgen -f -W off -- "$cur") ;;
    --report) mapfile -t COMPREPLY < <(compgen -d -W stderr -- "$cur") ;;
    --rundir) mapfile -t COMPREPLY < <(compgen -d -- "$cur") ;;
    *)
      takes=$(grep -xF -- "$prev=" <<<"$opts")
      if [ -n "$takes" ]; then
        return # a value nobody can guess: N, D, LIST
      fi
      if [[ $cur == -* ]]; then
        mapfile -t COMPREPLY < <(compgen -W "$(sed 's/=$//' <<<"$opts") --" -- "$cur")
      else
        mapfile -t COMPREPLY < <(compgen -c -- "$cur" | sort -u)
      fi
      ;;
    esac
    ;;
  esac
}
complete -F _connwarden connwarden
