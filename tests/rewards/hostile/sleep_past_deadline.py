# hostile: sleeps far past the deadline at import
# mode: call
# expect: timeout
import time
time.sleep(987654)
