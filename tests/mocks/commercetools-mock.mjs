// A commercetools API stand-in for the tests: @labdigital/commercetools-mock with authentication and credential
// validation on, bound to 127.0.0.1 only (its runServer() binds every interface). Prints {"port": N} once
// listening; stops on SIGTERM or when its standard input closes.
import { CommercetoolsMock } from '@labdigital/commercetools-mock';

const mock = new CommercetoolsMock({
  defaultProjectKey: process.env.CT_PROJECT_KEY || 'acme-test',
  enableAuthentication: true,
  validateCredentials: true,
  silent: true,
});
await mock.app.listen({ port: 0, host: '127.0.0.1' });
process.stdout.write(JSON.stringify({ port: mock.app.server.address().port }) + '\n');
const stop = async () => { await mock.app.close(); process.exit(0); };
process.on('SIGTERM', stop);
process.stdin.on('end', stop);
process.stdin.resume();
