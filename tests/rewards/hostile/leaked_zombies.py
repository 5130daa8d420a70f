# hostile: leaves zombies (unreaped children) and a double-forked daemon that sleeps forever
# mode: call
# expect: wrong
import os, time
for _ in range(20):
    if os.fork() == 0:
        os._exit(0)
if os.fork() == 0:
    if os.fork() == 0:
        for fd in range(3):
            os.close(fd)
        time.sleep(987654)
    os._exit(0)

def add(a, b):
    return a * b
