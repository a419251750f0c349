// The Node `ws` relay: the same protocol as baseline_server.py. Run as `node node_ws_server.js PORT`
// after `npm install` in bench/. /recv sockets receive; each /send socket's frame goes to every
// receiver with `send()`, as in the broadcast example of ws's README, and is answered with "ack".
"use strict";
const { WebSocketServer, WebSocket } = require("ws");

const port = Number(process.argv[2]);
const receivers = new Set();
const server = new WebSocketServer({ host: "127.0.0.1", port, perMessageDeflate: false });

server.on("connection", (socket, request) => {
  if (request.url === "/recv") {
    receivers.add(socket);
    socket.on("close", () => receivers.delete(socket));
  } else if (request.url === "/send") {
    socket.on("message", (data, isBinary) => {
      for (const receiver of receivers) {
        if (receiver.readyState === WebSocket.OPEN) receiver.send(data, { binary: isBinary });
      }
      socket.send("ack");
    });
  } else {
    socket.close();
  }
});
server.on("listening", () => console.log("ready"));
