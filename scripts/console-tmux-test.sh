#!/usr/bin/env bash
# Drives the real console in a real terminal: starts `herd console` inside tmux on the default model at
# 80x24 and 200x60, sends keys (a prompt, tuner changes, :set, a refused value, save, resize, theme switch,
# help, quit, Ctrl-C, a crash) and checks what `tmux capture-pane` shows. Run by ConsoleTests
# (TmuxConsoleTests) when tmux is installed; by hand: scripts/console-tmux-test.sh [path/to/herd].
set -eEuo pipefail
cd "$(dirname "$0")/.."
HERD=${1:-.build/debug/herd}
[ -x "$HERD" ] || { echo "no herd binary at $HERD (build first)"; exit 1; }
HERD=$(cd "$(dirname "$HERD")" && pwd)/$(basename "$HERD")
command -v tmux >/dev/null || { echo "tmux is not installed (scripts/install-deps.sh installs it)"; exit 1; }

# Each start gets its own tmux server (a new session on a server that is still shutting down can fail).
RUN=0
SOCKET="herd-console-test-$$-$RUN"
WORK=$(mktemp -d)
T() { tmux -L "$SOCKET" -f /dev/null "$@"; }
SERVERS=()   # tmux server pids: a server that stops answering (seen under load) is killed by pid
cleanup() {
  for ((i = 0; i <= RUN; i++)); do timeout 5 tmux -L "herd-console-test-$$-$i" kill-server 2>/dev/null || true; done
  for pid in "${SERVERS[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'echo "FAIL: line $LINENO: $BASH_COMMAND exited with $?"' ERR
# The saved knobs go to a private config directory, never the user's.
export XDG_CONFIG_HOME="$WORK/config"
ARGS=(console --kv-cache-memory 256MiB --threads 2)

fail() {
  echo "FAIL: $*"
  echo "----- screen -----"
  T capture-pane -p -t herd 2>/dev/null || true
  echo "------------------"
  exit 1
}
screen() { T capture-pane -p -t herd; }
# wait_for TEXT [SECONDS]: until the screen shows TEXT.
wait_for() {
  local deadline=$((SECONDS + ${2:-20}))
  until screen | grep -qF -- "$1"; do
    [ $SECONDS -lt $deadline ] || fail "waited ${2:-20}s for: $1"
    sleep 0.2
  done
}
wait_gone() {
  local deadline=$((SECONDS + ${2:-20}))
  while screen | grep -qF -- "$1"; do
    [ $SECONDS -lt $deadline ] || fail "waited ${2:-20}s for this to go: $1"
    sleep 0.2
  done
}
expect() { screen | grep -qF -- "$1" || fail "screen lacks: $1"; }
keys() { T send-keys -t herd "$@"; sleep 0.3; }
literal() { T send-keys -t herd -l "$1"; sleep 0.3; }
# herd's exit status, written by the shell around it (tmux itself sometimes reports a dead pane before it
# has collected the status).
wait_exit() {
  local deadline=$((SECONDS + 15))
  until [ -s "$WORK/status" ]; do
    [ $SECONDS -lt $deadline ] || fail "herd did not exit"
    sleep 0.2
  done
  cat "$WORK/status"
}
start() {  # start WIDTH HEIGHT command...: a fresh session running herd, its exit status to $WORK/status
  timeout 5 tmux -L "$SOCKET" -f /dev/null kill-server 2>/dev/null || true
  RUN=$((RUN + 1))
  SOCKET="herd-console-test-$$-$RUN"
  # The tmux server outlives this call: it must not hold on to our stdout (a caller reading it to EOF).
  # The shell ignores SIGINT (herd installs its own handler), so Ctrl-C reaches herd and not the shell.
  rm -f "$WORK/status"
  T new-session -d -s herd -x "$1" -y "$2" "trap '' INT; sleep 0.3; ${*:3}; echo \$? > $WORK/status; exec sleep 600" </dev/null >/dev/null 2>&1
  SERVERS+=("$(T display -p '#{pid}')")
  T set -g default-terminal tmux-256color
}

for size in 80x24 200x60; do
  W=${size%x*}; H=${size#*x}
  echo "== $size"
  rm -f "$XDG_CONFIG_HOME/herd/knobs.json"   # each size starts from the defaults
  start "$W" "$H" "$HERD ${ARGS[*]}"
  wait_for " Prompt " 60
  expect "herd │"
  expect " GPUs "
  expect " Tuner "
  wait_for " CPUs " 10
  screen | grep -qE "rocm-smi: (not available|starting)|[0-9] .*HBM" || fail "no GPU row and no rocm-smi note"
  [ "$W" -lt 120 ] || { expect " Batch "; expect " Throughput "; expect "dense model"; expect "console "; }

  # A prompt: the answer streams into the pane.
  keys Enter
  literal "What is 2+2?"
  keys Enter
  wait_for "you   What is 2+2?"
  wait_for "model " 30
  if [ "$W" -lt 120 ]; then
    keys Escape            # stops the streaming answer (or leaves the prompt if it already ended)
    wait_gone "streaming" 30
  else
    wait_gone "streaming" 120
  fi
  screen | grep -qE "(^|│) model [^ …]" || screen | grep -qF "[stopped]" || fail "no answer text"
  keys Escape              # leave the prompt

  # The tuner: a step, apply, a typed :set, a refused value, save.
  keys t
  keys Right
  wait_for "(pending)"
  keys Enter
  wait_for "applied max_num_batched_tokens=2304"
  screen | grep -qE "max_num_batched_tokens +2304" || fail "max_num_batched_tokens not 2304 after apply"
  keys : ; literal "set max_num_seqs 32" ; keys Enter
  wait_for "applied max_num_seqs=32"
  keys : ; literal "set max_model_len 99999999" ; keys Enter
  wait_for "refused: max_model_len 99999999"
  keys s
  wait_for "saved to"
  grep -q '"max_num_batched_tokens" : 2304' "$XDG_CONFIG_HOME/herd/knobs.json" || fail "knobs.json not written"
  keys Escape

  # Resize: smaller (panes drop out), tiny, then back.
  T resize-window -t herd -x 60 -y 16; sleep 0.5
  expect " Prompt "
  T resize-window -t herd -x 20 -y 4; sleep 0.5
  [ ! -e "$WORK/status" ] || fail "herd exited on a tiny terminal with $(cat "$WORK/status")"
  T resize-window -t herd -x "$W" -y "$H"; sleep 0.5
  wait_for " Tuner "

  # Theme switch, help overlay.
  keys c
  wait_for "theme: light"
  keys : ; literal "theme basic" ; keys Enter
  wait_for "theme: basic"
  keys "?"
  wait_for ":set NAME VALUE"
  keys x
  wait_gone ":set NAME VALUE"

  keys q
  status=$(wait_exit)
  [ "$status" = 0 ] || fail "herd exited with $status after q"
  echo "ok $size"
done

echo "== saved knobs are read at the next start; Ctrl-C quits cleanly"
start 100 30 "$HERD ${ARGS[*]}"
wait_for " Tuner " 60
screen | grep -qE "max_num_batched_tokens +2304" || fail "saved knobs not applied at start"
screen | grep -qE "max_num_seqs +32" || fail "saved max_num_seqs not applied at start"
keys C-c
status=$(wait_exit)
[ "$status" = 0 ] || fail "herd exited with $status after Ctrl-C"

echo "== --read-only and NO_COLOR"
start 100 30 "NO_COLOR=1 $HERD ${ARGS[*]} --read-only"
wait_for " Tuner " 60
expect "read-only"
keys t; keys Right
wait_for "read-only: the tuner is disabled"
T capture-pane -p -e -t herd | grep -qE $'\e\\[([0-9]+;)*(3[0-7]|4[0-7]|9[0-7]|38;[25])[;m]' && fail "colour escapes despite NO_COLOR"
keys q
[ "$(wait_exit)" = 0 ] || fail "herd --read-only did not quit cleanly"

echo "== a crash restores the terminal (echo and canonical mode back on)"
start 100 30 "sh -c 'echo \$\$ > $WORK/pid; exec $HERD ${ARGS[*]}'; echo exit=\$?; stty -a | tr ' ' '\\n' | grep -xE 'echo|icanon' | tr '\\n' ' '; echo; sleep 30"
wait_for " Tuner " 60
kill -SEGV "$(cat "$WORK/pid")"
wait_for "exit=139" 30
wait_for "icanon echo" 5
rm -f "${TMPDIR:-/tmp}/herd-console-$(cat "$WORK/pid").log"   # the stderr log a crash leaves behind

echo "PASS: console tmux test"
