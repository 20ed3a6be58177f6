# The release phase: a migration would run here. It sees the service's variables.
import os
import sys

print("release phase with GREETING =", os.environ.get("GREETING", "(unset)"), flush=True)
sys.exit(int(os.environ.get("RELEASE_EXIT", "0")))
