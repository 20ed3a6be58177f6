print("release ran", flush=True)
