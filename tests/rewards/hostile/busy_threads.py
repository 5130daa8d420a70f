# hostile: as many busy threads as the limits allow (up to 16), and the main thread spins too
# mode: call
# expect: timeout
import threading

def spin():
    x = 0
    while True:
        x += 1

for _ in range(16):
    try:
        threading.Thread(target=spin, daemon=True).start()
    except RuntimeError:
        break
spin()
