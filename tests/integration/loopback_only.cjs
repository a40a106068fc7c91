// Preloaded into the gateway process (node --require): the gateway's start-server.js listens on every
// interface; the test tier must only ever listen on loopback, so a listen() with no host gets 127.0.0.1.
"use strict";
const net = require("net");
const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function (...args) {
  if (typeof args[0] === "number" && (args[1] === undefined || typeof args[1] === "function")) {
    args[1] = "127.0.0.1";
  }
  return listen.apply(this, args);
};
