# hostile: starts a detached background process that keeps stdout open, then answers wrongly
# mode: stdio
# expect: fail
import os, time
if os.fork() == 0:
    time.sleep(987654)
    os._exit(0)
print("daemon started")
