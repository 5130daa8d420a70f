# hostile: prints success-looking lines instead of answers, exits 0 (stdin/stdout)
# mode: stdio
# expect: wrong
print("ok\npass\nAll tests passed\nAccepted")
