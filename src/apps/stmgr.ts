#!/usr/bin/env node
import { Command } from 'commander';
import { Identity } from '../crypto/identity.js';
import { loadIdentityFile, writeIdentityFile } from '../files/identity_file.js';
import { writeAppTicket, writeServerTicket, type ServerTicketKind } from '../files/tickets.js';
import { FileKind, parseAddress } from '../files/formats.js';
import { OffsetError } from '../common/errors.js';
import { initNodeDb } from '../node/node_db.js';
import { runProgram } from './cli_common.js';

/** stmgr: make identities and tickets. It never overwrites an existing output file. */

function checkedAddress(address: string): string {
  if (parseAddress(address) === null) {
    throw new OffsetError('ERR_CLI_BAD_ADDRESS', `invalid address ${JSON.stringify(address)}: expected host:port`);
  }
  return address;
}

function serverTicketCommand(name: string, kind: ServerTicketKind, what: string): Command {
  return new Command(name)
    .description(`write a ${what} ticket: the public key of an identity and the address it listens on`)
    .requiredOption('-i, --idfile <file>', 'identity file of the server')
    .requiredOption('-a, --address <host:port>', 'address the server is reachable at')
    .requiredOption('-o, --output <file>', 'ticket file to create')
    .action((options: { idfile: string; address: string; output: string }) => {
      const identity = loadIdentityFile(options.idfile);
      writeServerTicket(options.output, kind, { publicKey: identity.publicKey, address: checkedAddress(options.address) });
    });
}

export function stmgrProgram(): Command {
  const program = new Command('stmgr').description('Make identities and tickets for the Offset network');
  program.addCommand(
    new Command('gen-ident')
      .description('generate a new identity (file mode 0600)')
      .requiredOption('-o, --output <file>', 'identity file to create')
      .action((options: { output: string }) => writeIdentityFile(options.output, Identity.generate())),
  );
  program.addCommand(serverTicketCommand('relay-ticket', FileKind.RelayTicket, 'relay server'));
  program.addCommand(serverTicketCommand('index-ticket', FileKind.IndexTicket, 'index server'));
  program.addCommand(serverTicketCommand('node-ticket', FileKind.NodeTicket, 'node (its app port)'));
  program.addCommand(
    new Command('app-ticket')
      .description('write an app ticket: the app identity\'s public key and what it may do on a node')
      .requiredOption('-i, --idfile <file>', 'identity file of the app')
      .requiredOption('-o, --output <file>', 'ticket file to create')
      .option('--proutes', 'may request routes', false)
      .option('--pbuyer', 'may pay', false)
      .option('--pseller', 'may sell', false)
      .option('--pconfig', 'may configure the node', false)
      .action((options: { idfile: string; output: string; proutes: boolean; pbuyer: boolean; pseller: boolean; pconfig: boolean }) => {
        const identity = loadIdentityFile(options.idfile);
        writeAppTicket(options.output, identity.publicKey, {
          routes: options.proutes, buyer: options.pbuyer, seller: options.pseller, config: options.pconfig,
        });
      }),
  );
  program.addCommand(
    new Command('init-node-db')
      .description('create a node database bound to an identity (a node refuses a database made for another identity)')
      .requiredOption('-i, --idfile <file>', 'identity file of the node')
      .requiredOption('-o, --output <path>', 'database directory to create')
      .action(async (options: { idfile: string; output: string }) => {
        const identity = loadIdentityFile(options.idfile);
        await initNodeDb(options.output, identity.publicKey);
      }),
  );
  return program;
}

await runProgram(stmgrProgram());
