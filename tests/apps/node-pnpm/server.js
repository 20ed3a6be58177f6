const http = require("http");
const ms = require("ms");

http
  .createServer((req, res) => {
    res.writeHead(200, { "Content-Type": "text/plain" });
    res.end(`hello from node-pnpm on node ${process.versions.node.split(".")[0]}, ${ms(60000)}`);
  })
  .listen(Number(process.env.PORT), "0.0.0.0");
