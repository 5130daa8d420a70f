# hostile: returns an int subclass (and a str subclass) whose __eq__ always says True
# mode: call
# expect: wrong
class Liar(int):
    def __eq__(self, other):
        return True
    __hash__ = int.__hash__
    def __int__(self):
        return 5
    def __index__(self):
        return 5
    def __repr__(self):
        return "5"

def add(a, b):
    return Liar(0)
