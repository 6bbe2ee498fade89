import { createSignerClient } from 'lit-session-client';

const signer = createSignerClient({ url: process.env.LITSIGNER_URL, tokenFile: process.env.LITSIGNER_TOKEN_FILE });
const sessionSigs = await signer.sessionSigs({
  nodeUrls: ['https://127.0.0.1:7470', 'https://127.0.0.1:7471'], // [...litNodeClient.connectedNodes]
  resourceAbilityRequests: [{ resource: { resource: '*', resourcePrefix: 'lit-pkp' }, ability: 'pkp-signing' }],
  nonce: '0x3a9c4f1e8b7d6a5c4b3a29180f7e6d5c4b3a29180f7e6d5c4b3a29180f7e6d5c', // await litNodeClient.getLatestBlockhash()
});
console.log(JSON.stringify(sessionSigs)); // litNodeClient.pkpSign({ pubKey, toSign, sessionSigs })
