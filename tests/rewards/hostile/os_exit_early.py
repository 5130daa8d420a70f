# hostile: os._exit(0) at import, skipping every cleanup handler
# mode: call
# expect: wrong
import os
os._exit(0)
