import t from 'tap';
import { decodeAppRequest, decodeNodeToApp, encodeAppRequest, encodeNodeToApp } from '../../src/node/app_codec.js';
import { nodeMessages, requests } from '../node/app_samples.js';
import { fuzzDecoder } from './harness.js';

fuzzDecoder(t, {
  name: 'app request',
  decode: decodeAppRequest,
  encode: encodeAppRequest,
  reencodeAccepted: true,
  samples: requests.map(encodeAppRequest),
  errorCode: /^ERR_WIRE_MALFORMED$/,
});

fuzzDecoder(t, {
  name: 'node to app',
  decode: decodeNodeToApp,
  encode: encodeNodeToApp,
  reencodeAccepted: true,
  samples: nodeMessages.map(encodeNodeToApp),
  errorCode: /^ERR_WIRE_MALFORMED$/,
});
