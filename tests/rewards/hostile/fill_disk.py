# hostile: fills the working directory until the file-size limit or the tmpfs size stops it
# mode: call
# expect: fail
import os
i = 0
while True:
    with open("/tmp/fill%d" % i, "wb") as f:
        while True:
            f.write(b"\0" * (1 << 20))
    i += 1
