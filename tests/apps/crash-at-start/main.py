import sys

print("boom: DATABASE_URL is not set", flush=True)
sys.exit(3)
