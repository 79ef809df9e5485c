// A local stand-in for mParticle's Events API for throughput runs (tools/bench/run.sh): answers every
// POST .../bulkevents with 202 after reading the body, optionally after a fixed delay (--latency-ms) to stand for the
// round trip to mParticle. Listens on 127.0.0.1 only; prints "listening <port>" once ready and, on SIGTERM,
// the requests and bytes it took. Never used by the tests (they run their own in-process fake).
import { createServer } from "node:http";

const args = Object.fromEntries(process.argv.slice(2).map((a, i, all) => a.startsWith("--") ? [a.slice(2), all[i + 1]] : null).filter(Boolean));
const latency = Number(args["latency-ms"] ?? 0);
let requests = 0;
let bytes = 0;

const server = createServer((req, res) => {
  let size = 0;
  req.on("data", chunk => { size += chunk.length; });
  req.on("end", () => {
    const answer = () => {
      if (req.method !== "POST" || !req.url.endsWith("/bulkevents")) {
        res.writeHead(404).end();
        return;
      }
      requests++;
      bytes += size;
      res.writeHead(202, { "content-type": "application/json" }).end("{}");
    };
    latency > 0 ? setTimeout(answer, latency) : answer();
  });
});
server.keepAliveTimeout = 60_000;
server.listen(Number(args.port ?? 0), "127.0.0.1", () => console.log(`listening ${server.address().port}`));
process.on("SIGTERM", () => {
  console.log(`events-api-fake: ${requests} request(s), ${bytes} bytes`);
  server.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 1000).unref();
});
