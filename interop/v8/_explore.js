const { freezeClock, loadSdk } = require('./common');
const NOW='2026-03-01T10:00:00.000Z';
freezeClock(NOW); loadSdk();
const { mintCase } = require('./mint');
const base = {id:'x', now:NOW, sessionSeed:'11'.repeat(32), walletKey:'0x'+'22'.repeat(32), nonce:'0x'+'33'.repeat(32), expiration:null, statement:null, domain:null, resourceForm:'tuple', product:'SIGN', userMaxPrice:null, sdkThreshold:2,
 nodePrices:[{url:'https://1.2.3.4:443',prices:['1','5','1','1']},{url:'https://1.2.3.5:443',prices:['1','5','1','1']},{url:'http://localhost:7470',prices:['1','2','1','1']}], delegations:[],
 resources:[{prefix:'lit-pkp',id:'0xabc',ability:'pkp-signing'}]};
(async()=>{
 const show=(r)=>{ if(r.sdkError) return console.error('ERR',r.sdkError); const m=JSON.parse(r.sessionSigsJson); const f=JSON.parse(Object.values(m)[0].signedMessage); console.error(Object.keys(m), Object.values(m).map(v=>JSON.parse(v.signedMessage).maxPrice)); console.error(JSON.stringify(f.resourceAbilityRequests)); const cap=f.capabilities; for(const c of cap) console.error(JSON.stringify(c).slice(0,150)+'...', '\n'+c.signedMessage); };
 // 1 duplicates + pkp id + domain path
 show(await mintCase({...base, domain:'app.example.com/login?x=1', statement:'', resources:[{prefix:'lit-pkp',id:'0xabc',ability:'pkp-signing'},{prefix:'lit-pkp',id:'0xabc',ability:'pkp-signing'},{prefix:'lit-accesscontrolcondition',id:'ab/cd',ability:'access-control-condition-decryption'},{prefix:'lit-accesscontrolcondition',id:'ab/cd',ability:'access-control-condition-signing'},{prefix:'lit-paymentdelegation',id:'*',ability:'lit-payment-delegation'}]}));
 // threshold 0 and >n
 show(await mintCase({...base, sdkThreshold:0}));
 show(await mintCase({...base, sdkThreshold:7, userMaxPrice:'7'}));
 show(await mintCase({...base, sdkThreshold:3, userMaxPrice:'8'}));
 // delegations with shuffled and extra
 show(await mintCase({...base, expiration:'2026-03-02T10:00:00.000Z', delegations:[
   {now:'2026-02-28T10:00:00.000Z', walletKey:'0x'+'44'.repeat(32), nonce:'0x'+'55'.repeat(32), delegatees:['0x'+'ab'.repeat(20), 'AB'.repeat(20)], maxPrice:'0x00FF', scopes:['pkp_sign','lit_action','pkp_sign'], fileForm:'shuffled'},
   {now:'2026-02-28T10:00:00.000Z', walletKey:'0x'+'44'.repeat(32), nonce:'abcdefgh12', delegatees:['0x'+'cd'.repeat(20)], maxPrice:'1000', scopes:['sign_session_key'], expiration:'2026-03-05T00:00:00.000Z', statement:'Pay for me.', domain:'pay.example.com', fileForm:'extra-key'}]}));
})();
(async()=>{ await new Promise(r=>setTimeout(r,3000));
 const r = await mintCase({...base, expiration:'2026-03-02T10:00:00.000Z', delegations:[
   {now:'2026-02-28T10:00:00.000Z', walletKey:'0x'+'44'.repeat(32), nonce:'0x'+'55'.repeat(32), delegatees:['0x'+'ab'.repeat(20)], maxPrice:'0x00FF', scopes:['pkp_sign'], fileForm:'shuffled'},
   {now:'2026-02-28T10:00:00.000Z', walletKey:'0x'+'44'.repeat(32), nonce:'abcdefgh12', delegatees:['0x'+'cd'.repeat(20)], maxPrice:'1000', scopes:['sign_session_key'], fileForm:'extra-key'}]});
 const f=JSON.parse(Object.values(JSON.parse(r.sessionSigsJson))[0].signedMessage);
 console.error('FILES', r.delegations.map(d=>Object.keys(JSON.parse(d.capabilityFileJson))));
 console.error('IN MSG', f.capabilities.map(c=>Object.keys(c)));
 console.error(r.delegations.map(d=>d.authSigJson===JSON.stringify(f.capabilities[r.delegations.indexOf(d)])));
 // algo key + extra key
 const a = JSON.parse(r.delegations[0].authSigJson);
 const r2 = await mintCase({...base, expiration:'2026-03-02T10:00:00.000Z', delegations:[]});
})();
