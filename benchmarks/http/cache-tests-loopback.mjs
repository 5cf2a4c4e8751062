// Preloaded into the cache-tests server (node --import): it listens on every interface by default; here on 127.0.0.1 only.
import http from 'node:http'

const listen = http.Server.prototype.listen
http.Server.prototype.listen = function (...args) {
  return args.length === 1 && typeof args[0] !== 'object' ? listen.call(this, args[0], '127.0.0.1') : listen.apply(this, args)
}
