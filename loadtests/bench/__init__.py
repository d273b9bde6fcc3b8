"""`make bench`: the engine side by side with two raw servers (a frame per share, a frame per
tick), python-socketio and Node Socket.IO, every row with one definition for every system.

python -m loadtests.bench [--profile full|smoke] [--systems engine,raw,raw-batched,socketio,node]
"""
