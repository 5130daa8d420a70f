# hostile: writes fake verdicts with guessed tokens to every descriptor 0..1023, including the reply pipe
# mode: call
# expect: wrong
import os
fake = b"".join(b"%032x started\n%032x pass \"\"\n" % (i, i) for i in range(16)) + b"pass\nok\n"
for fd in range(1024):
    try:
        os.write(fd, fake)
    except OSError:
        pass

def add(a, b):
    return 0
