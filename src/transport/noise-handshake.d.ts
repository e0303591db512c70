// Types for the parts of noise-handshake (CommonJS, untyped) the transport uses.
declare module 'noise-handshake' {
  interface KeyPair {
    publicKey: Buffer;
    secretKey: Buffer;
  }
  class NoiseState {
    constructor(pattern: 'IK' | 'XX' | 'NN' | 'XK', initiator: boolean, staticKeypair?: KeyPair | null, opts?: object);
    s: KeyPair;
    rs: Buffer | null;
    complete: boolean;
    /** Split keys: the initiator's tx is the responder's rx. */
    tx: Buffer | null;
    rx: Buffer | null;
    hash: Buffer | null;
    initialise(prologue: Uint8Array, remoteStatic?: Uint8Array): void;
    send(payload?: Uint8Array): Buffer;
    recv(message: Uint8Array): Buffer;
  }
  export = NoiseState;
}
