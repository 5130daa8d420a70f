# hostile: returns an object equal to everything
# mode: call
# expect: wrong
class Anything:
    def __eq__(self, other):
        return True
    def __ne__(self, other):
        return False
    def __hash__(self):
        return 0
    def __bool__(self):
        return True
    def __repr__(self):
        return "5"

def add(a, b):
    return Anything()
