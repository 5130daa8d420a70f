# hostile: makes every unittest assertion and doctest check succeed
# mode: call
# expect: wrong
import doctest, unittest
for name in dir(unittest.TestCase):
    if name.startswith("assert") or name == "fail":
        setattr(unittest.TestCase, name, lambda *args, **kwargs: None)
doctest.OutputChecker.check_output = lambda *args: True

def add(a, b):
    return "wrong"
