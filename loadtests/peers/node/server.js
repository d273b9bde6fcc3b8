// Node.js Socket.IO with @socket.io/redis-adapter, doing the party's job the idiomatic way:
// `join` enters a room, `share` emits to the room (the adapter carries it to every process).
//
//   PORT=9002 REDIS_URL=redis://127.0.0.1:6379/0 node loadtests/peers/node/server.js
const http = require("node:http");
const { Server } = require("socket.io");
const { createAdapter } = require("@socket.io/redis-adapter");
const { createClient } = require("redis");

async function main() {
  const port = Number(process.env.PORT);
  const redisUrl = process.env.REDIS_URL;
  const pub = createClient({ url: redisUrl });
  const sub = pub.duplicate();
  await Promise.all([pub.connect(), sub.connect()]);

  const server = http.createServer();
  const io = new Server(server, {
    adapter: createAdapter(pub, sub),
    transports: ["websocket"],
    perMessageDeflate: false, // as the engine: no compression for fan-out
    cors: { origin: "*" },
  });
  io.on("connection", (socket) => {
    socket.on("join", (party, ack) => {
      socket.join(party);
      if (typeof ack === "function") ack(true);
    });
    socket.on("share", (data, ack) => {
      io.to(data.party).emit("share", data);
      if (typeof ack === "function") ack(true);
    });
  });
  server.listen({ port, host: "127.0.0.1", backlog: 4096 });
  for (const signal of ["SIGTERM", "SIGINT"]) process.on(signal, () => process.exit(0));
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
