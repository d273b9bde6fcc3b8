"""`make bench`: the engine side by side with a raw server, python-socketio and Node Socket.IO.

python -m loadtests.bench [--profile full|smoke] [--systems engine,raw,socketio,node] ...
"""
