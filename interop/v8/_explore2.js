const { freezeClock, loadSdk } = require('./common');
const NOW='2026-03-01T10:00:00.000Z';
freezeClock(NOW); loadSdk();
const { mintCase } = require('./mint');
const base = {id:'x', now:NOW, sessionSeed:'11'.repeat(32), walletKey:'0x'+'22'.repeat(32), nonce:'0x'+'33'.repeat(32), expiration:null, statement:null, domain:null, resourceForm:'tuple', product:'SIGN', userMaxPrice:null, sdkThreshold:2,
 nodePrices:[{url:'https://1.2.3.4:443',prices:['1','5','1','1']},{url:'https://1.2.3.5:443',prices:['1','5','1','1']},{url:'http://localhost:7470',prices:['1','2','1','1']}], delegations:[],
 resources:[{prefix:'lit-pkp',id:'0xabc',ability:'pkp-signing'}]};
(async()=>{
 const show=(r)=>{ if(r.sdkError) return console.error('ERR',r.sdkError); const m=JSON.parse(r.sessionSigsJson); console.error(Object.keys(m), Object.values(m).map(v=>JSON.parse(v.signedMessage).maxPrice)); };
 show(await mintCase({...base, sdkThreshold:7}));
 show(await mintCase({...base, sdkThreshold:3, userMaxPrice:'12'}));
 show(await mintCase({...base, sdkThreshold:3, userMaxPrice:'14'}));
 show(await mintCase({...base, sdkThreshold:3, userMaxPrice:(2n**256n-1n).toString()}));
 show(await mintCase({...base, sdkThreshold:3, userMaxPrice:(2n**300n).toString()}));
 show(await mintCase({...base, sdkThreshold:3, nodePrices: base.nodePrices.map(n=>({...n, prices:['0','0','0','0']}))}));
 show(await mintCase({...base, sdkThreshold:1, nodePrices: [{url:'https://1.1.1.1:1', prices:['0','-5','0','0']}]}));
 // expiration not in ms form
 show(await mintCase({...base, expiration:'2026-03-01T11:00:00Z'}));
 show(await mintCase({...base, expiration:'2026-03-01T09:00:00.000Z'}));
 show(await mintCase({...base, expiration:'2026-03-01T10:00:00.000Z'}));
 show(await mintCase({...base, resources:[]}));
 show(await mintCase({...base, domain:''}));
 show(await mintCase({...base, resources:[{prefix:'lit-ratelimitincrease',id:'1',ability:'rate-limit-increase-auth'}]}));
})();
