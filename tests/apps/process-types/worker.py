# A worker that does a little work and then crashes, so the platform restarts it.
import os
import sys
import time

print("worker up, PORT is", os.environ.get("PORT", "(unset)"), flush=True)
time.sleep(0.5)
print("worker crashing now", flush=True)
sys.exit(3)
