/* The cashier page of `kvitt serve` (docs/cashier-page.md).  Plain
 * JavaScript, no framework, nothing fetched from elsewhere.  It uses the
 * /v1 till API only, with the session cookie (HttpOnly: this script never
 * sees it) and the CSRF token in a header on every state-changing call.
 * The till token is sent once at sign-in and never stored. */
'use strict';
(function () {
  var T = {
    nb: { lang: 'Språk', sale: 'Salg', today: 'I dag', settings: 'Innstillinger',
      signin: 'Logg inn kassen', token: 'Kassenøkkel (till token)', code: 'Paringskode',
      signinBtn: 'Logg inn', badLogin: 'Feil nøkkel eller kode (eller koden er brukt eller utløpt).',
      amount: 'Beløp', pay: 'Betal', clear: 'Tøm', back: 'Slett siste siffer',
      addItem: 'Legg til vare', item: 'Vare', qty: 'Antall', price: 'Pris', vat: 'MVA %',
      remove: 'Fjern', useSum: 'Bruk varesummen', itemsSum: 'Varene er til sammen {a}, beløpet er {b}.',
      zero: 'Tast inn et beløp.', waiting: 'QR skrevet ut, be kunden skanne',
      secondsLeft: '{n} s igjen', cancel: 'Avbryt', paid: 'Betalt', declined: 'Avvist',
      expired: 'Utløpt', cancelled: 'Avbrutt', unknown: 'Ukjent, sjekker igjen',
      newSale: 'Nytt salg', refund: 'Refunder', reprint: 'Skriv ut kopi', refundAmount: 'Refusjonsbeløp',
      refunded: 'Refundert {a}', reprinted: 'Kopi skrevet ut', payments: 'Dagens betalinger',
      total: 'Sum betalt {a} ({n} betalinger)', search: 'Søk på referanse', searchBtn: 'Søk',
      chain: 'Hele kjeden', none: 'Ingen betalinger.', printerOk: 'Skriver klar',
      printerWarn: 'Skriveren: {s}', printerUnknown: 'Skriveren er ikke sjekket',
      printerBlock: 'Fiks skriveren før betaling: {s}', retry: 'Sjekk igjen',
      sessions: 'Innloggede enheter', revoke: 'Logg ut enheten', thisDevice: 'denne enheten',
      signout: 'Logg ut', sessionGone: 'Økten er utløpt. Logg inn igjen.', ref: 'Referanse',
      state: 'Status', full: 'Hele beløpet', captured: 'Betalt', starting: 'Skriver ut QR …',
      receipt: 'Kvittering: {s}' },
    da: { lang: 'Sprog', sale: 'Salg', today: 'I dag', settings: 'Indstillinger',
      signin: 'Log kassen ind', token: 'Kassenøgle (till token)', code: 'Parringskode',
      signinBtn: 'Log ind', badLogin: 'Forkert nøgle eller kode (eller koden er brugt eller udløbet).',
      amount: 'Beløb', pay: 'Betal', clear: 'Ryd', back: 'Slet sidste ciffer',
      addItem: 'Tilføj vare', item: 'Vare', qty: 'Antal', price: 'Pris', vat: 'Moms %',
      remove: 'Fjern', useSum: 'Brug varesummen', itemsSum: 'Varerne er i alt {a}, beløbet er {b}.',
      zero: 'Indtast et beløb.', waiting: 'QR udskrevet, bed kunden om at scanne',
      secondsLeft: '{n} s tilbage', cancel: 'Annuller', paid: 'Betalt', declined: 'Afvist',
      expired: 'Udløbet', cancelled: 'Annulleret', unknown: 'Ukendt, tjekker igen',
      newSale: 'Nyt salg', refund: 'Refunder', reprint: 'Udskriv kopi', refundAmount: 'Refusionsbeløb',
      refunded: 'Refunderet {a}', reprinted: 'Kopi udskrevet', payments: 'Dagens betalinger',
      total: 'Betalt i alt {a} ({n} betalinger)', search: 'Søg på reference', searchBtn: 'Søg',
      chain: 'Hele kæden', none: 'Ingen betalinger.', printerOk: 'Printer klar',
      printerWarn: 'Printeren: {s}', printerUnknown: 'Printeren er ikke tjekket',
      printerBlock: 'Ret printeren før betaling: {s}', retry: 'Tjek igen',
      sessions: 'Indloggede enheder', revoke: 'Log enheden ud', thisDevice: 'denne enhed',
      signout: 'Log ud', sessionGone: 'Sessionen er udløbet. Log ind igen.', ref: 'Reference',
      state: 'Status', full: 'Hele beløbet', captured: 'Betalt', starting: 'Udskriver QR …',
      receipt: 'Kvittering: {s}' },
    fi: { lang: 'Kieli', sale: 'Myynti', today: 'Tänään', settings: 'Asetukset',
      signin: 'Kirjaa kassa sisään', token: 'Kassan avain (till token)', code: 'Parituskoodi',
      signinBtn: 'Kirjaudu', badLogin: 'Väärä avain tai koodi (tai koodi on käytetty tai vanhentunut).',
      amount: 'Summa', pay: 'Maksa', clear: 'Tyhjennä', back: 'Poista viimeinen numero',
      addItem: 'Lisää tuote', item: 'Tuote', qty: 'Määrä', price: 'Hinta', vat: 'ALV %',
      remove: 'Poista', useSum: 'Käytä tuotteiden summaa', itemsSum: 'Tuotteet yhteensä {a}, summa on {b}.',
      zero: 'Syötä summa.', waiting: 'QR tulostettu, pyydä asiakasta skannaamaan',
      secondsLeft: '{n} s jäljellä', cancel: 'Peruuta', paid: 'Maksettu', declined: 'Hylätty',
      expired: 'Vanhentunut', cancelled: 'Peruutettu', unknown: 'Tuntematon, tarkistetaan',
      newSale: 'Uusi myynti', refund: 'Hyvitä', reprint: 'Tulosta kopio', refundAmount: 'Hyvityssumma',
      refunded: 'Hyvitetty {a}', reprinted: 'Kopio tulostettu', payments: 'Päivän maksut',
      total: 'Maksettu yhteensä {a} ({n} maksua)', search: 'Hae viitteellä', searchBtn: 'Hae',
      chain: 'Koko ketju', none: 'Ei maksuja.', printerOk: 'Tulostin valmis',
      printerWarn: 'Tulostin: {s}', printerUnknown: 'Tulostinta ei ole tarkistettu',
      printerBlock: 'Korjaa tulostin ennen maksua: {s}', retry: 'Tarkista uudelleen',
      sessions: 'Kirjautuneet laitteet', revoke: 'Kirjaa laite ulos', thisDevice: 'tämä laite',
      signout: 'Kirjaudu ulos', sessionGone: 'Istunto on vanhentunut. Kirjaudu uudelleen.', ref: 'Viite',
      state: 'Tila', full: 'Koko summa', captured: 'Maksettu', starting: 'Tulostetaan QR …',
      receipt: 'Kuitti: {s}' },
    sv: { lang: 'Språk', sale: 'Försäljning', today: 'I dag', settings: 'Inställningar',
      signin: 'Logga in kassan', token: 'Kassanyckel (till token)', code: 'Parkopplingskod',
      signinBtn: 'Logga in', badLogin: 'Fel nyckel eller kod (eller koden är använd eller har gått ut).',
      amount: 'Belopp', pay: 'Betala', clear: 'Rensa', back: 'Radera sista siffran',
      addItem: 'Lägg till vara', item: 'Vara', qty: 'Antal', price: 'Pris', vat: 'Moms %',
      remove: 'Ta bort', useSum: 'Använd varusumman', itemsSum: 'Varorna blir {a}, beloppet är {b}.',
      zero: 'Slå in ett belopp.', waiting: 'QR utskriven, be kunden skanna',
      secondsLeft: '{n} s kvar', cancel: 'Avbryt', paid: 'Betald', declined: 'Nekad',
      expired: 'Utgången', cancelled: 'Avbruten', unknown: 'Okänt, kontrollerar igen',
      newSale: 'Ny försäljning', refund: 'Återbetala', reprint: 'Skriv ut kopia', refundAmount: 'Belopp att återbetala',
      refunded: 'Återbetalat {a}', reprinted: 'Kopia utskriven', payments: 'Dagens betalningar',
      total: 'Betalt totalt {a} ({n} betalningar)', search: 'Sök på referens', searchBtn: 'Sök',
      chain: 'Hela kedjan', none: 'Inga betalningar.', printerOk: 'Skrivaren redo',
      printerWarn: 'Skrivaren: {s}', printerUnknown: 'Skrivaren är inte kontrollerad',
      printerBlock: 'Åtgärda skrivaren före betalning: {s}', retry: 'Kontrollera igen',
      sessions: 'Inloggade enheter', revoke: 'Logga ut enheten', thisDevice: 'den här enheten',
      signout: 'Logga ut', sessionGone: 'Sessionen har gått ut. Logga in igen.', ref: 'Referens',
      state: 'Status', full: 'Hela beloppet', captured: 'Betalt', starting: 'Skriver ut QR …',
      receipt: 'Kvitto: {s}' },
    en: { lang: 'Language', sale: 'Sale', today: 'Today', settings: 'Settings',
      signin: 'Sign in this till', token: 'Till token', code: 'Pairing code',
      signinBtn: 'Sign in', badLogin: 'Wrong token or code (or the code is used or expired).',
      amount: 'Amount', pay: 'Pay', clear: 'Clear', back: 'Delete last digit',
      addItem: 'Add item', item: 'Item', qty: 'Qty', price: 'Price', vat: 'VAT %',
      remove: 'Remove', useSum: 'Use the items total', itemsSum: 'The items add up to {a}, the amount is {b}.',
      zero: 'Key in an amount.', waiting: 'QR printed, ask the customer to scan',
      secondsLeft: '{n} s left', cancel: 'Cancel', paid: 'Paid', declined: 'Declined',
      expired: 'Expired', cancelled: 'Cancelled', unknown: 'Unknown, checking again',
      newSale: 'New sale', refund: 'Refund', reprint: 'Reprint', refundAmount: 'Refund amount',
      refunded: 'Refunded {a}', reprinted: 'Copy printed', payments: "Today's payments",
      total: 'Total paid {a} ({n} payments)', search: 'Search by reference', searchBtn: 'Search',
      chain: 'Whole chain', none: 'No payments.', printerOk: 'Printer ready',
      printerWarn: 'Printer: {s}', printerUnknown: 'Printer not checked',
      printerBlock: 'Fix the printer before taking a payment: {s}', retry: 'Check again',
      sessions: 'Signed-in devices', revoke: 'Sign the device out', thisDevice: 'this device',
      signout: 'Sign out', sessionGone: 'The session has expired. Sign in again.', ref: 'Reference',
      state: 'State', full: 'Everything left', captured: 'Paid', starting: 'Printing the QR …',
      receipt: 'Receipt: {s}' }
  };
  var PRINTER = {
    'paper-out': { nb: 'tom for papir', da: 'løbet tør for papir', fi: 'paperi loppu', sv: 'slut på papper', en: 'paper out' },
    'paper-near-end': { nb: 'papiret snart slutt', da: 'papiret snart brugt', fi: 'paperi vähissä', sv: 'pappret snart slut', en: 'paper nearly out' },
    'cover-open': { nb: 'lokket er åpent', da: 'låget er åbent', fi: 'kansi auki', sv: 'luckan är öppen', en: 'cover open' },
    'offline': { nb: 'frakoblet', da: 'offline', fi: 'ei yhteyttä', sv: 'offline', en: 'offline' },
    'unreachable': { nb: 'svarer ikke', da: 'svarer ikke', fi: 'ei vastaa', sv: 'svarar inte', en: 'not answering' },
    'error': { nb: 'feil', da: 'fejl', fi: 'virhe', sv: 'fel', en: 'error' }
  };
  var BLOCKING = { 'paper-out': 1, 'cover-open': 1, 'offline': 1, 'unreachable': 1, 'error': 1 };

  var S = { me: null, lang: 'nb', digits: '', items: [], tab: 'sale', ref: null,
            printer: null, es: null, last: null, busy: false };
  var bench = window.kvBench = {};
  var main = document.getElementById('main');

  function t(k, v) {
    var s = (T[S.lang] || T.en)[k] || T.en[k] || k;
    if (v) Object.keys(v).forEach(function (n) { s = s.split('{' + n + '}').join(v[n]); });
    return s;
  }
  /* Amounts as on the receipts (escpos/layout.c kv_money_format). */
  function money(minor, cur) {
    cur = cur || (S.me ? S.me.currency : 'NOK');
    var neg = minor < 0; if (neg) minor = -minor;
    var ts = ' ', ds = ',';
    if (S.lang === 'da') ts = '.'; else if (S.lang === 'en') { ts = ','; ds = '.'; }
    var whole = String(Math.floor(minor / 100)).replace(/\B(?=(\d{3})+(?!\d))/g, ts);
    var num = whole + ds + String(minor % 100 + 100).slice(1);
    var kr = cur === 'NOK' || cur === 'SEK' || cur === 'DKK', out;
    if (S.lang === 'en') out = (cur === 'EUR' ? '€' : cur + ' ') + num;
    else out = num + ' ' + (cur === 'EUR' ? '€' : kr && S.lang !== 'fi'
        ? (S.lang === 'da' && cur === 'DKK' ? 'kr.' : 'kr') : cur);
    return (neg ? '-' : '') + out;
  }
  function apiAmount(minor) { return Math.floor(minor / 100) + '.' + String(minor % 100 + 100).slice(1); }
  function toMinor(s) {
    var m = String(s).trim().replace(',', '.').match(/^(\d{1,9})(?:\.(\d{1,2}))?$/);
    if (!m) return null;
    return parseInt(m[1], 10) * 100 + (m[2] ? parseInt((m[2] + '0').slice(0, 2), 10) : 0);
  }
  function el(tag, attrs, kids) {
    var e = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === 'text') e.textContent = attrs[k];
      else if (k === 'on') Object.keys(attrs.on).forEach(function (ev) { e.addEventListener(ev, attrs.on[ev]); });
      else if (attrs[k] !== null && attrs[k] !== undefined && attrs[k] !== false) e.setAttribute(k, attrs[k]);
    });
    (kids || []).forEach(function (c) { if (c) e.appendChild(typeof c === 'string' ? document.createTextNode(c) : c); });
    return e;
  }
  function say(msg) { document.getElementById('live').textContent = msg; }
  function newKey() {
    var b = new Uint8Array(16); crypto.getRandomValues(b);
    return 'page-' + Array.prototype.map.call(b, function (x) { return (x + 256).toString(16).slice(1); }).join('');
  }
  function api(method, path, body, key) {
    var h = { 'Accept': 'application/json' };
    if (method !== 'GET') { h['X-CSRF-Token'] = S.me ? S.me.csrf : ''; }
    if (body !== undefined) h['Content-Type'] = 'application/json';
    if (key) h['Idempotency-Key'] = key;
    return fetch(path, { method: method, headers: h, credentials: 'same-origin', cache: 'no-store',
                         body: body === undefined ? undefined : JSON.stringify(body) })
      .then(function (r) {
        return r.text().then(function (txt) {
          var j = null; try { j = txt ? JSON.parse(txt) : {}; } catch (e) { j = { message: txt }; }
          if (r.status === 401 && path !== '/v1/session') { signedOut(t('sessionGone')); throw new Error(t('sessionGone')); }
          if (!r.ok) throw new Error((j && j.message) || ('HTTP ' + r.status));
          return j;
        });
      });
  }

  /* ---- language ---- */
  var langSel = document.getElementById('lang');
  function setLang(l, save) {
    if (!T[l]) l = 'en';
    S.lang = l; langSel.value = l;
    document.documentElement.lang = l === 'nb' ? 'nb' : l;
    if (save) localStorage.setItem('kvitt.lang', l);
    document.getElementById('lang-label').textContent = t('lang');
    ['sale', 'today', 'settings'].forEach(function (k) { document.getElementById('tab-' + k).textContent = t(k); });
    render();
  }
  langSel.addEventListener('change', function () { setLang(langSel.value, true); });

  /* ---- tabs ---- */
  Array.prototype.forEach.call(document.querySelectorAll('nav button'), function (b) {
    b.addEventListener('click', function () { if (!S.ref) { S.tab = b.dataset.tab; S.last = null; render(); } });
  });

  function render() {
    if (S.es && !S.ref) { S.es.close(); S.es = null; }
    main.textContent = '';
    document.getElementById('tabs').hidden = !S.me;
    Array.prototype.forEach.call(document.querySelectorAll('nav button'), function (b) {
      b.setAttribute('aria-current', b.dataset.tab === S.tab && S.me ? 'page' : 'false');
      b.disabled = !!S.ref;
    });
    if (!S.me) return renderSignin();
    if (S.ref) return renderWaiting();
    if (S.last) return renderResult();
    if (S.tab === 'today') return renderToday();
    if (S.tab === 'settings') return renderSettings();
    renderSale();
  }

  /* ---- sign-in ---- */
  function renderSignin(msg) {
    var hash = location.hash.match(/pair=([A-Za-z0-9-]+)/);
    var tok = el('input', { id: 'token', type: 'password', autocomplete: 'off', 'aria-describedby': 'login-err' });
    var code = el('input', { id: 'code', type: 'text', autocomplete: 'one-time-code', autocapitalize: 'characters',
                             value: hash ? hash[1] : '' });
    var err = el('p', { id: 'login-err', class: 'error', role: 'alert', text: msg || '' });
    var form = el('form', { id: 'signin', on: { submit: function (e) {
      e.preventDefault();
      var body = code.value.trim() ? { code: code.value.trim() } : { token: tok.value };
      tok.value = '';
      api('POST', '/v1/session', body).then(function (me) {
        history.replaceState(null, '', location.pathname);
        signedIn(me);
      }).catch(function () { err.textContent = t('badLogin'); code.focus(); });
    } } }, [
      el('h1', { text: t('signin') }),
      el('label', { class: 'block', for: 'code' }, [t('code'), code]),
      el('label', { class: 'block', for: 'token' }, [t('token'), tok]),
      err,
      el('button', { type: 'submit', class: 'primary pay', id: 'signin-btn', text: t('signinBtn') })
    ]);
    main.appendChild(form);
    (hash ? code : code).focus();
  }
  function signedIn(me) {
    S.me = me;
    document.getElementById('store').textContent = me.storeName;
    document.getElementById('tillname').textContent = me.till;
    var saved = localStorage.getItem('kvitt.lang');
    setLang(saved || me.language, false);
    resume();
    checkPrinter();
  }
  function signedOut(msg) {
    S.me = null; S.ref = null; S.last = null;
    if (S.es) { S.es.close(); S.es = null; }
    render();
    if (msg) renderSigninMsg(msg);
  }
  function renderSigninMsg(msg) { var e = document.getElementById('login-err'); if (e) e.textContent = msg; }

  /* ---- printer ---- */
  function checkPrinter() {
    return api('GET', '/v1/health').then(function (h) {
      var me = (h.tills || []).filter(function (x) { return x.till === S.me.till; })[0];
      S.printer = me && me.printer ? me.printer : null;
      var b = document.getElementById('printer'); if (b) b.replaceWith(printerBanner());
      var p = document.getElementById('pay'); if (p) updatePay();
    }).catch(function () {});
  }
  function printerBlocked() { return S.printer && BLOCKING[S.printer.state]; }
  function printerBanner() {
    var st = S.printer ? S.printer.state : '', name = PRINTER[st] ? PRINTER[st][S.lang] : st;
    var cls = 'warn', txt = t('printerUnknown');
    if (st === 'ready' || st === 'virtual') { cls = 'ok'; txt = t('printerOk'); }
    else if (BLOCKING[st]) { cls = 'bad'; txt = t('printerBlock', { s: name }); }
    else if (PRINTER[st]) txt = t('printerWarn', { s: name });
    var d = el('div', { id: 'printer', class: 'banner ' + cls, 'data-state': st || 'none', role: 'status' }, [txt]);
    if (cls === 'bad') d.appendChild(el('button', { type: 'button', id: 'printer-retry', text: t('retry'),
      class: 'inline', on: { click: checkPrinter } }));
    return d;
  }

  /* ---- sale: keypad and items ---- */
  function amountMinor() { return S.digits ? parseInt(S.digits, 10) : 0; }
  function itemsMinor() {
    var sum = 0, ok = true;
    S.items.forEach(function (it) {
      var p = toMinor(it.price), q = parseInt(it.qty, 10);
      if (p === null || !(q > 0) || !it.name.trim()) ok = false; else sum += p * q;
    });
    return ok ? sum : null;
  }
  function key(d) {
    if (d === 'C') S.digits = '';
    else if (d === '<') S.digits = S.digits.slice(0, -1);
    else if ((S.digits + d).replace(/^0+/, '').length <= 8) S.digits = (S.digits + d).replace(/^0+/, '');
    var a = document.getElementById('amount'); if (a) a.textContent = money(amountMinor());
    updatePay();
  }
  function updatePay() {
    var p = document.getElementById('pay'), e = document.getElementById('sale-err');
    if (!p) return;
    var msg = '', a = amountMinor();
    if (S.items.length) {
      var s = itemsMinor();
      if (s === null) msg = t('itemsSum', { a: '?', b: money(a) });
      else if (s !== a) msg = t('itemsSum', { a: money(s), b: money(a) });
    }
    p.disabled = a <= 0 || !!msg || !!printerBlocked() || S.busy;
    e.textContent = msg;
    var u = document.getElementById('use-sum'); if (u) u.hidden = !msg || itemsMinor() === null;
  }
  function renderSale() {
    var wrap = el('section', { class: 'split', 'aria-labelledby': 'sale-h' });
    var left = el('div'), right = el('div');
    left.appendChild(el('h1', { id: 'sale-h', class: 'sr', text: t('sale') }));
    left.appendChild(printerBanner());
    left.appendChild(el('div', { id: 'amount', class: 'amount', role: 'status', 'aria-label': t('amount'),
                                 text: money(amountMinor()) }));
    var pad = el('div', { class: 'keypad', role: 'group', 'aria-label': t('amount') });
    ['1', '2', '3', '4', '5', '6', '7', '8', '9', '00', '0', '<'].forEach(function (d) {
      pad.appendChild(el('button', { type: 'button', 'data-key': d, 'aria-label': d === '<' ? t('back') : d,
                                     text: d === '<' ? '⌫' : d, on: { click: function () { key(d); } } }));
    });
    left.appendChild(pad);
    left.appendChild(el('p', { id: 'sale-err', class: 'error', role: 'alert' }));
    left.appendChild(el('button', { type: 'button', id: 'pay', class: 'primary pay', text: t('pay'),
                                     on: { click: pay } }));
    var tbl = el('table', { class: 'items' }, [el('thead', {}, [el('tr', {}, [el('th', { scope: 'col', text: t('item') }),
      el('th', { scope: 'col', text: t('qty') }), el('th', { scope: 'col', text: t('price') }),
      el('th', { scope: 'col', text: t('vat') }), el('th', { scope: 'col' }, [el('span', { class: 'sr', text: t('remove') })])])])]);
    S.items.forEach(function (it, i) {
      function inp(f, type, lab) {
        return el('input', { type: type, 'aria-label': lab + ' ' + (i + 1), value: it[f], placeholder: lab,
          inputmode: f === 'name' ? null : 'decimal', 'data-f': f,
          on: { input: function (e) { it[f] = e.target.value; updatePay(); } } });
      }
      tbl.appendChild(el('tr', {}, [el('td', {}, [inp('name', 'text', t('item'))]),
        el('td', { class: 'w-qty' }, [inp('qty', 'text', t('qty'))]),
        el('td', { class: 'w-price' }, [inp('price', 'text', t('price'))]),
        el('td', { class: 'w-vat' }, [inp('vat', 'text', t('vat'))]),
        el('td', { class: 'w-x' }, [el('button', { type: 'button', 'aria-label': t('remove') + ' ' + (i + 1), text: '✕',
          on: { click: function () { S.items.splice(i, 1); render(); } } })])]));
    });
    right.appendChild(el('div', { class: 'row' }, [
      el('button', { type: 'button', id: 'clear', text: t('clear'), on: { click: function () { key('C'); } } }),
      el('button', { type: 'button', id: 'add-item', text: t('addItem'), on: { click: function () {
        S.items.push({ name: '', qty: '1', price: '', vat: S.me.currency === 'EUR' ? '25.5' : '25' }); render();
        var ins = main.querySelectorAll('input[data-f="name"]'); ins[ins.length - 1].focus(); } } })]));
    if (S.items.length) {
      right.appendChild(el('h2', { text: t('item') + ' (' + S.items.length + ')' }));
      right.appendChild(tbl);
    }
    right.appendChild(el('button', { type: 'button', id: 'use-sum', hidden: true, text: t('useSum'), on: { click: function () {
      S.digits = String(itemsMinor()); render(); } } }));
    wrap.appendChild(left); wrap.appendChild(right);
    main.appendChild(wrap);
    updatePay();
  }

  /* ---- paying ---- */
  function feedback(kind) {
    try {
      if (navigator.vibrate && navigator.userActivation && navigator.userActivation.hasBeenActive)
        navigator.vibrate(kind === 'paid' ? [120] : [300, 100, 300]);
      var ctx = S.audio; if (!ctx) return;
      var o = ctx.createOscillator(), g = ctx.createGain();
      o.frequency.value = kind === 'paid' ? 1320 : 330; g.gain.value = 0.2;
      o.connect(g); g.connect(ctx.destination); o.start(); o.stop(ctx.currentTime + 0.25);
    } catch (e) { /* sound is a bonus */ }
  }
  function pay() {
    if (S.busy) return;
    bench.payTap = Date.now();
    try { if (!S.audio && window.AudioContext) S.audio = new AudioContext(); } catch (e) { S.audio = null; }
    var body = { amount: apiAmount(amountMinor()) };
    if (S.items.length) body.items = S.items.map(function (it) {
      return { name: it.name.trim(), quantity: parseInt(it.qty, 10), unit_price: apiAmount(toMinor(it.price)),
               vat_rate: parseFloat(String(it.vat).replace(',', '.')) || 0 };
    });
    /* One key per sale, kept until the answer: a reload or a retry sends
     * the same key, so the customer is never asked twice. */
    var pending = JSON.parse(sessionStorage.getItem('kvitt.start') || 'null');
    if (!pending || JSON.stringify(pending.body) !== JSON.stringify(body)) pending = { key: newKey(), body: body };
    sessionStorage.setItem('kvitt.start', JSON.stringify(pending));
    S.busy = true; updatePay();
    var p = document.getElementById('pay'); p.textContent = t('starting');
    api('POST', '/v1/payments', pending.body, pending.key).then(function (res) {
      bench.created = Date.now();
      sessionStorage.removeItem('kvitt.start');
      S.busy = false; S.digits = ''; S.items = [];
      follow(res.reference, res.amountMinor);
    }).catch(function (e) {
      S.busy = false;
      if (!S.me) return;
      render();
      document.getElementById('sale-err').textContent = e.message;
      checkPrinter();
    });
  }
  function follow(ref, amount) {
    S.ref = ref; S.amount = amount || 0; S.left = null; S.last = null;
    localStorage.setItem('kvitt.ref', ref);
    render();
    if (S.es) S.es.close();
    var es = S.es = new EventSource('/v1/payments/' + encodeURIComponent(ref) + '/events');
    function onEv(m) {
      var e; try { e = JSON.parse(m.data); } catch (x) { return; }
      if (e.type === 'tick' && e.secondsLeft >= 0) {
        S.left = e.secondsLeft; var l = document.getElementById('left'); if (l) l.textContent = t('secondsLeft', { n: e.secondsLeft });
      }
      if ((e.type === 'state' && (e.state === 'CAPTURED' || e.state === 'DONE')) || e.type === 'result') finish(ref);
    }
    ['state', 'tick', 'result', 'message', 'printed'].forEach(function (n) { es.addEventListener(n, onEv); });
    es.onerror = function () { if (es.readyState === 2 || S.ref !== ref) return; };
    /* The stream ends after the result: EventSource would reconnect;
     * finish() closes it. */
  }
  function finish(ref) {
    if (!ref || S.ref !== ref) return;
    return api('GET', '/v1/payments/' + encodeURIComponent(ref)).then(function (p) {
      if (S.ref !== ref) return;
      if (!p.final && p.state !== 'CAPTURED' && p.state !== 'UNKNOWN') { setTimeout(function () { finish(ref); }, 800); return; }
      var kind = p.state === 'DONE' || p.state === 'CAPTURED' ? 'paid' : p.state === 'CANCELLED' ? 'cancelled'
        : p.state === 'UNKNOWN' ? 'unknown' : p.apiState === 'EXPIRED' ? 'expired' : 'declined';
      if (S.es) { S.es.close(); S.es = null; }
      S.ref = null; localStorage.removeItem('kvitt.ref');
      S.last = { kind: kind, p: p };
      render();
      if (kind === 'paid') bench.paidShown = Date.now();
      feedback(kind);
      say(t(kind));
    }).catch(function () { setTimeout(function () { finish(ref); }, 1500); });
  }
  function renderWaiting() {
    var box = el('section', { class: 'final waiting', id: 'waiting', 'aria-live': 'polite' }, [
      el('span', { class: 'sub', text: t('waiting') }),
      el('span', { class: 'big', id: 'wait-amount', text: money(S.amount) }),
      el('span', { id: 'left', text: S.left !== null ? t('secondsLeft', { n: S.left }) : '' }),
      el('p', { class: 'muted', text: t('ref') + ': ' + S.ref })]);
    main.appendChild(box);
    var ref = S.ref;
    var c = el('button', { type: 'button', id: 'cancel', class: 'danger pay', text: t('cancel'), on: { click: function () {
      c.disabled = true;
      api('POST', '/v1/payments/' + encodeURIComponent(ref) + '/cancel', undefined, newKey())
        .then(function () { finish(ref); })
        .catch(function (e) { c.disabled = false; say(e.message); });
    } } });
    main.appendChild(c);
    c.focus();
  }

  /* ---- result, refund, reprint ---- */
  function actions(p, into, msgEl) {
    var left = (p.captured ? toMinor(p.captured) : 0) - (p.refunded ? toMinor(p.refunded) : 0);
    if (left > 0) {
      var inp = el('input', { id: 'refund-amount', type: 'text', inputmode: 'decimal', value: apiAmount(left).replace('.', S.lang === 'en' ? '.' : ',') });
      into.appendChild(el('label', { class: 'block full', for: 'refund-amount' }, [t('refundAmount') + ' (' + t('full') + ': ' + money(left, p.currency) + ')', inp]));
      into.appendChild(el('button', { type: 'button', id: 'refund', class: 'danger', text: t('refund'), on: { click: function (e) {
        var m = toMinor(inp.value);
        if (m === null || m <= 0 || m > left) { msgEl.textContent = t('refundAmount') + ': ' + inp.value; return; }
        e.target.disabled = true;
        api('POST', '/v1/payments/' + encodeURIComponent(p.reference) + '/refund', { amount: apiAmount(m) }, newKey())
          .then(function () { msgEl.textContent = t('refunded', { a: money(m, p.currency) }); say(msgEl.textContent); })
          .catch(function (x) { msgEl.textContent = x.message; e.target.disabled = false; });
      } } }));
    }
    if (p.state === 'DONE' && (!S.me || p.store === S.me.store)) {
      into.appendChild(el('button', { type: 'button', id: 'reprint', text: t('reprint'), on: { click: function (e) {
        e.target.disabled = true;
        api('POST', '/v1/payments/' + encodeURIComponent(p.reference) + '/reprint', undefined, newKey())
          .then(function () { msgEl.textContent = t('reprinted'); say(msgEl.textContent); e.target.disabled = false; })
          .catch(function (x) { msgEl.textContent = x.message; e.target.disabled = false; });
      } } }));
    }
  }
  function renderResultLater() {
    var r = S.last;
    setTimeout(function () {
      if (S.last !== r) return;
      api('GET', '/v1/payments/' + encodeURIComponent(r.p.reference)).then(function (q) {
        if (S.last !== r) return;
        S.last = { kind: 'paid', p: q, tries: (r.tries || 0) + 1 };
        if (q.state === 'DONE' || S.last.tries >= 30) render(); else renderResultLater();
      }).catch(function () {});
    }, 700);
  }
  function renderResult() {
    var r = S.last, p = r.p;
    main.appendChild(el('section', { class: 'final ' + r.kind, id: 'result', 'data-kind': r.kind, role: 'alert' }, [
      el('span', { class: 'big', text: (r.kind === 'paid' ? '✓ ' : '✕ ') + t(r.kind) }),
      el('span', { class: 'sub', text: money(toMinor(p.amount), p.currency) }),
      el('p', { text: t('ref') + ': ' + p.reference })]));
    var msg = el('p', { id: 'action-msg', role: 'status' });
    var row = el('div', { class: 'row' });
    var nb = el('button', { type: 'button', id: 'new-sale', class: 'primary pay', text: t('newSale'), on: { click: function () {
      S.last = null; S.tab = 'sale'; render(); checkPrinter(); } } });
    main.appendChild(nb);
    if (r.kind === 'paid') actions(p, row, msg);
    /* Paid is shown once the money is captured; the receipt follows, and
     * with it the reprint. */
    if (r.kind === 'paid' && p.state !== 'DONE' && (r.tries || 0) < 30) renderResultLater();
    if (r.kind === 'unknown') row.appendChild(el('button', { type: 'button', id: 'check-again', text: t('retry'), on: { click: function () {
      api('GET', '/v1/payments/' + encodeURIComponent(p.reference) + '?refresh=1').then(function (q) {
        if (q.final || q.state === 'CAPTURED') { S.ref = q.reference; finish(q.reference); } else msg.textContent = t('unknown');
      }).catch(function (x) { msg.textContent = x.message; });
    } } }));
    main.appendChild(row); main.appendChild(msg);
    nb.focus();
  }

  /* ---- today and search ---- */
  function midnight() { var d = new Date(); d.setHours(0, 0, 0, 0); return Math.floor(d.getTime() / 1000); }
  function stateName(p) {
    return p.state === 'DONE' || p.state === 'CAPTURED' ? t('paid') : p.state === 'CANCELLED' ? t('cancelled')
      : p.state === 'NOT_PAID' ? (p.apiState === 'EXPIRED' ? t('expired') : t('declined'))
      : p.state === 'UNKNOWN' ? t('unknown') : p.state;
  }
  function orderList(rows, detail) {
    var ul = el('ul', { class: 'list', id: 'orders' });
    rows.forEach(function (p) {
      var when = new Date(p.createdAt * 1000).toLocaleTimeString(S.lang === 'nb' ? 'nb-NO' : S.lang, { hour: '2-digit', minute: '2-digit' });
      ul.appendChild(el('li', {}, [el('button', { type: 'button', 'data-ref': p.reference, on: { click: function () {
        detail.textContent = '';
        var msg = el('p', { id: 'action-msg', role: 'status' }), row = el('div', { class: 'row' });
        detail.appendChild(el('h2', { text: p.reference }));
        detail.appendChild(el('p', { text: stateName(p) + ' · ' + money(toMinor(p.amount), p.currency) +
          (p.refunded && toMinor(p.refunded) ? ' · ' + t('refunded', { a: money(toMinor(p.refunded), p.currency) }) : '') }));
        actions(p, row, msg); detail.appendChild(row); detail.appendChild(msg);
        var f = detail.querySelector('input,button'); if (f) f.focus();
      } } }, [el('span', { text: when + '  ' + p.reference.slice(-6) }), el('span', { text: stateName(p) }),
               el('strong', { text: money(toMinor(p.amount), p.currency) })])]));
    });
    if (!rows.length) ul.appendChild(el('li', { class: 'muted', text: t('none') }));
    return ul;
  }
  function renderToday() {
    var detail = el('section', { id: 'detail', 'aria-live': 'polite' });
    var q = el('input', { id: 'search', type: 'search', autocomplete: 'off' });
    var chain = S.me.chainRefund ? el('input', { id: 'chain', type: 'checkbox', class: 'check' }) : null;
    var results = el('div', { id: 'search-results' });
    var form = el('form', { role: 'search', on: { submit: function (e) {
      e.preventDefault();
      var path = '/v1/orders?reference=' + encodeURIComponent(q.value.trim());
      if (!(chain && chain.checked)) path += '&store=' + encodeURIComponent(S.me.store);
      api('GET', path).then(function (r) { results.textContent = ''; results.appendChild(orderList(r.orders || [], detail)); })
        .catch(function (x) { results.textContent = x.message; });
    } } }, [el('label', { class: 'block', for: 'search' }, [t('search'), q]),
            chain ? el('label', { for: 'chain' }, [chain, ' ' + t('chain')]) : null,
            el('button', { type: 'submit', id: 'search-btn', text: t('searchBtn') })]);
    var list = el('div', { id: 'today-list' }), tot = el('p', { class: 'totals', id: 'totals' });
    main.appendChild(el('h1', { text: t('payments') }));
    main.appendChild(tot); main.appendChild(list); main.appendChild(detail); main.appendChild(form); main.appendChild(results);
    api('GET', '/v1/orders?store=' + encodeURIComponent(S.me.store) + '&since=' + midnight()).then(function (r) {
      var mine = (r.orders || []).filter(function (p) { return p.till === S.me.till; });
      var sum = 0, n = 0;
      mine.forEach(function (p) { if (p.captured) { var v = toMinor(p.captured) - toMinor(p.refunded || '0'); if (toMinor(p.captured) > 0) { sum += v; n++; } } });
      tot.textContent = t('total', { a: money(sum), n: n });
      list.appendChild(orderList(mine, detail));
    }).catch(function (x) { tot.textContent = x.message; });
  }

  /* ---- settings: sessions ---- */
  function renderSettings() {
    main.appendChild(el('h1', { text: t('sessions') }));
    var ul = el('ul', { class: 'list', id: 'sessions' });
    main.appendChild(ul);
    api('GET', '/v1/sessions').then(function (r) {
      (r.sessions || []).forEach(function (x) {
        var b = el('button', { type: 'button', class: 'danger', 'data-session': x.id, text: t('revoke'), on: { click: function () {
          api('DELETE', '/v1/sessions/' + x.id).then(function () { if (x.current) signedOut(); else render(); }).catch(function (e) { say(e.message); });
        } } });
        ul.appendChild(el('li', { class: 'session' }, [
          el('span', { text: new Date(x.createdAt * 1000).toLocaleString() + ' · ' + x.userAgent.slice(0, 40) + (x.current ? ' (' + t('thisDevice') + ')' : '') }), b]));
      });
    });
    main.appendChild(el('button', { type: 'button', id: 'signout', class: 'pay', text: t('signout'), on: { click: function () {
      api('DELETE', '/v1/session').then(function () { signedOut(); });
    } } }));
  }

  /* ---- start: find the session and a payment still waiting ---- */
  function resume() {
    var ref = localStorage.getItem('kvitt.ref');
    var check = ref ? api('GET', '/v1/payments/' + encodeURIComponent(ref)).then(function (p) { return [p]; }, function () { return []; })
      : api('GET', '/v1/orders?store=' + encodeURIComponent(S.me.store) + '&since=' + midnight())
          .then(function (r) { return (r.orders || []).filter(function (p) { return p.till === S.me.till; }); }, function () { return []; });
    return check.then(function (rows) {
      var w = rows.filter(function (p) { return !p.final && p.state !== 'UNKNOWN'; })[0];
      if (w) follow(w.reference, w.amountMinor); else { localStorage.removeItem('kvitt.ref'); render(); }
    });
  }
  document.addEventListener('keydown', function (e) {
    if (!S.me || S.ref || S.last || S.tab !== 'sale' || !document.getElementById('amount')) return;
    var tag = (e.target.tagName || '').toLowerCase();
    if (tag === 'input' || tag === 'select' || tag === 'textarea') return;
    if (/^[0-9]$/.test(e.key)) { key(e.key); e.preventDefault(); }
    else if (e.key === 'Backspace') { key('<'); e.preventDefault(); }
    else if (e.key === 'Escape') { key('C'); e.preventDefault(); }
  });
  setInterval(function () { if (S.me && !S.ref && S.tab === 'sale') checkPrinter(); }, 10000);
  setLang(localStorage.getItem('kvitt.lang') || 'nb', false);
  api('GET', '/v1/session').then(function (me) { if (me.signedIn) signedIn(me); else render(); })
    .catch(function () { render(); });
})();
