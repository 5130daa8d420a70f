# hostile: replaces AssertionError, the excepthook and __debug__-style switches before the asserts
# mode: asserts
# expect: wrong
import builtins, sys
class Quiet(Exception):
    pass
builtins.AssertionError = Quiet
sys.excepthook = lambda *args: None
sys.exit = lambda *args: None
builtins.exit = builtins.quit = lambda *args: None

def add(a, b):
    return None
