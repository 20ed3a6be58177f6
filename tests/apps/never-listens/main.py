import time

print("started, but listening on nothing", flush=True)
while True:
    time.sleep(1)
