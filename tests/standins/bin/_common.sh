# Shared by the stand-ins: what a test asks them to do (sourced, not run).
#   WRENCOS_STANDIN_MODE   "" (print the address, then run until stopped), "exit" (print
#                          an error and exit 1), "mute" (print, but no address; keep
#                          running), "stubborn" (like "", but ignore SIGTERM)
#   WRENCOS_STANDIN_LOG    a file: each stand-in appends its argv and the pid of the
#                          helper it starts ("helper PID"), so a test can check both
#   WRENCOS_STANDIN_HOST   the public host to print (default: a fixed one per tool)
mode="${WRENCOS_STANDIN_MODE:-}"
if [ "$mode" = "stubborn" ]; then
    trap '' TERM
fi
if [ -n "${WRENCOS_STANDIN_LOG:-}" ]; then
    echo "argv $0 $*" >> "$WRENCOS_STANDIN_LOG"
fi

# A helper process, as real clients have (cloudflared's connections, tailscale's
# watcher): stopping the tunnel must end it too. Started (and logged) before anything is
# printed, so a test that has read the address knows the helper's pid.
if [ "$mode" != "exit" ]; then
    sleep 100000 &
    helper=$!
    if [ -n "${WRENCOS_STANDIN_LOG:-}" ]; then
        echo "helper $helper" >> "$WRENCOS_STANDIN_LOG"
    fi
fi

stay_running() {
    while :; do
        wait "$helper" 2>/dev/null && break
        # "wait" returns early when a trapped signal arrives: keep waiting.
        kill -0 "$helper" 2>/dev/null || break
    done
}
