const http = require("http");
const port = parseInt(process.env.PORT, 10);
http.createServer((req, res) => {
  res.writeHead(200, { "Content-Type": "text/plain" });
  res.end("hello from node-detected");
}).listen(port, "0.0.0.0", () => console.log("listening on " + port));
