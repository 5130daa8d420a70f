# hostile: ignores every catchable signal (SIGXCPU, SIGTERM, SIGINT, SIGHUP, ...) and spins
# mode: call
# expect: timeout
import signal
for s in signal.valid_signals():
    try:
        signal.signal(s, signal.SIG_IGN)
    except (OSError, ValueError):
        pass
while True:
    pass
