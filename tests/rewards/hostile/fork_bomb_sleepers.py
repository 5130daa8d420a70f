# hostile: forks as many sleeping children as it can, then answers wrongly (stdin/stdout)
# mode: stdio
# expect: fail
import os, time
children = 0
try:
    while True:
        if os.fork() == 0:
            time.sleep(987654)
            os._exit(0)
        children += 1
except OSError:
    pass
print(children)
