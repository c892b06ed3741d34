"""Writes the demo catalogue the embedded default ships: fictional instruments and articles.

`python3 scripts/recsys/demo_catalogue.py > streams/recommend/data/catalogue.jsonl`

Every company, fund and bond here is invented (no real issuer is described); the descriptions
are ours, built from what each sector's businesses actually do, so content similarity has
something real to work on. Deterministic: the same file on every run.
"""

import json
import random

rng = random.Random(20261202)

SECTORS = {
    "technology": {
        "risk": 6, "esg": (55, 80),
        "names": ["Northwind Semiconductors", "Lumenta Software", "Quantic Cloud Systems", "Arbor Data Networks",
                  "Helix Chip Design", "Stratus Cybersecurity", "Pinnacle Devices", "Vireo Analytics", "Keystone Payments Tech"],
        "does": ["designs power-efficient processors for data centres and phones",
                 "sells subscription software for accounting and payroll to small firms",
                 "runs cloud infrastructure and rents computing capacity by the hour",
                 "builds fibre and wireless networking equipment for telecom operators",
                 "licenses chip designs to manufacturers and earns royalties on every unit",
                 "protects corporate networks against intrusions with managed security services",
                 "makes laptops, tablets and wearables sold through retailers and online",
                 "provides analytics tools that let companies query large datasets",
                 "processes card and mobile payments for online merchants"],
        "tags": ["growth", "innovation", "ai"],
    },
    "health care": {
        "risk": 5, "esg": (60, 85),
        "names": ["Meridian Biologics", "Calder Medical Devices", "Orison Pharma", "Tessera Diagnostics",
                  "Brightwell Health Services", "Solace Therapeutics", "Aurelia Genomics", "Vantage Clinics", "Halden Life Sciences"],
        "does": ["develops antibody treatments for autoimmune diseases",
                 "manufactures heart valves, stents and surgical robots",
                 "sells generic and branded medicines in over forty countries",
                 "runs laboratories for blood tests and cancer screening",
                 "operates outpatient clinics and care homes",
                 "is running late-stage trials of a treatment for a rare muscle disease",
                 "sequences genomes for hospitals and research institutes",
                 "manages a network of dental and eye-care practices",
                 "supplies lab equipment and reagents to drug researchers"],
        "tags": ["defensive", "ageing population"],
    },
    "financials": {
        "risk": 5, "esg": (45, 70),
        "names": ["Harbourline Bank", "Corvid Insurance Group", "Atlas Asset Management", "Fernhill Building Society",
                  "Granite Reinsurance", "Equinox Brokerage", "Westmere Capital", "Lantern Credit Union", "Sterling Exchange Group"],
        "does": ["takes deposits and lends to households and small businesses",
                 "writes home, motor and life insurance",
                 "manages pension and fund money for institutions",
                 "offers mortgages and savings accounts through a branch network",
                 "reinsures natural-catastrophe risk for primary insurers",
                 "runs an online brokerage with low-cost share dealing",
                 "advises on mergers and arranges corporate bond issues",
                 "provides consumer loans and credit cards",
                 "operates a stock exchange and clearing house"],
        "tags": ["dividend", "value", "interest rates"],
    },
    "energy": {
        "risk": 6, "esg": (20, 45),
        "names": ["Petrosa Energy", "Caspian Offshore Drilling", "Redline Refining", "Tundra Gas Pipelines",
                  "Blackrock Basin Oil", "Meridian LNG", "Saltmarsh Oilfield Services", "Cobalt Coast Energy", "Ironvale Coal"],
        "does": ["produces oil and gas from fields in the North Sea and West Africa",
                 "rents drilling rigs to oil companies for deep-water wells",
                 "refines crude oil into fuels and sells them through filling stations",
                 "owns pipelines that carry natural gas under long-term contracts",
                 "explores for shale oil with horizontal drilling",
                 "liquefies natural gas and ships it to Asian buyers",
                 "supplies equipment and crews to oil and gas producers",
                 "is moving from oil production into offshore wind",
                 "mines thermal coal for power stations"],
        "tags": ["value", "commodities", "dividend"],
    },
    "clean energy": {
        "risk": 6, "esg": (75, 95),
        "names": ["Solvane Renewables", "Gale Force Wind", "Voltaic Storage", "Hydra Green Hydrogen",
                  "Sunridge Solar", "Tideway Power", "Evergrid Utilities", "Ampere Charging Networks", "Verdant Heat Pumps"],
        "does": ["builds and operates solar parks under long-term power contracts",
                 "makes turbines for onshore and offshore wind farms",
                 "sells grid-scale battery systems to utilities",
                 "produces hydrogen from renewable electricity for industry",
                 "manufactures solar panels and inverters",
                 "develops tidal and hydroelectric power plants",
                 "runs a regulated electricity grid that connects renewable generators",
                 "installs fast chargers for electric cars along motorways",
                 "makes heat pumps that replace gas boilers in homes"],
        "tags": ["clean energy", "esg", "growth"],
    },
    "consumer staples": {
        "risk": 4, "esg": (55, 80),
        "names": ["Hearthstone Foods", "Clearbrook Beverages", "Maple & Rye Bakeries", "Everyday Household Goods",
                  "Greenacre Grocers", "Pellucid Personal Care", "Orchard Valley Farms", "Tallow & Wick", "Cascade Water"],
        "does": ["makes breakfast cereals, snacks and frozen meals",
                 "brews beer and bottles soft drinks",
                 "bakes bread and pastries for supermarkets",
                 "sells detergents, cleaning products and paper towels",
                 "runs a chain of discount supermarkets",
                 "makes shampoo, toothpaste and skin care",
                 "grows and packs fruit and vegetables",
                 "produces candles and home fragrance",
                 "bottles mineral water and supplies office water coolers"],
        "tags": ["defensive", "dividend"],
    },
    "consumer discretionary": {
        "risk": 6, "esg": (40, 70),
        "names": ["Velocity Motors", "Wanderly Travel", "Threadline Apparel", "Luxe Maison",
                  "Homestead Furnishings", "Arcadia Gaming", "Brasserie Holdings", "Parcel Fast Retail", "Summit Outdoor Gear"],
        "does": ["builds electric and hybrid cars",
                 "sells package holidays and runs an online booking site",
                 "designs clothing sold in its own stores",
                 "makes luxury handbags, watches and jewellery",
                 "sells furniture online and in out-of-town stores",
                 "publishes video games for consoles and phones",
                 "owns restaurants and hotels in city centres",
                 "runs an online marketplace with next-day delivery",
                 "makes hiking, skiing and cycling equipment"],
        "tags": ["growth", "cyclical"],
    },
    "industrials": {
        "risk": 5, "esg": (45, 75),
        "names": ["Forgewell Engineering", "Aerion Aerospace", "Railbridge Transport", "Crane & Girder Construction",
                  "Tollgate Logistics", "Precision Motion Automation", "Harbour Shipping Lines", "Keel Defence Systems", "Beacon Elevators"],
        "does": ["makes pumps, valves and compressors for factories",
                 "builds aircraft engines and earns fees for servicing them",
                 "manufactures trains and signalling systems",
                 "builds roads, bridges and hospitals under public contracts",
                 "runs warehouses and lorry fleets for retailers",
                 "sells industrial robots and factory automation software",
                 "operates container ships between Asia and Europe",
                 "supplies radar and communication systems to armed forces",
                 "installs and maintains lifts and escalators"],
        "tags": ["cyclical", "infrastructure"],
    },
    "real estate": {
        "risk": 5, "esg": (50, 75),
        "names": ["Cornerstone Property Trust", "Lattice Logistics REIT", "Harbourview Residential", "Ashgrove Offices",
                  "Meadowbank Retail Parks", "Datahaven Towers", "Silverleaf Senior Living", "Quayside Student Homes", "Northgate Self Storage"],
        "does": ["owns shopping centres and collects rent from retailers",
                 "owns warehouses leased to online retailers",
                 "builds and rents apartments in growing cities",
                 "owns office buildings in capital cities",
                 "owns retail parks anchored by supermarkets",
                 "owns data centres and mobile phone towers",
                 "runs retirement communities with care services",
                 "builds and lets student accommodation near universities",
                 "operates self-storage centres"],
        "tags": ["dividend", "income", "interest rates"],
    },
    "communication services": {
        "risk": 5, "esg": (45, 70),
        "names": ["Signalpoint Telecom", "Marquee Media", "Ripple Social", "Broadwave Cable",
                  "Storyline Studios", "Nimbus Mobile", "Headline Publishing", "Orbit Satellite Services", "Echo Streaming"],
        "does": ["provides mobile and broadband services",
                 "owns television channels and radio stations",
                 "runs a social network funded by advertising",
                 "offers cable television and home internet",
                 "produces films and series for streaming platforms",
                 "operates a low-cost mobile network",
                 "publishes newspapers and a news website with a paywall",
                 "rents satellite capacity for broadcasting and maritime internet",
                 "runs a music and video streaming subscription service"],
        "tags": ["growth", "dividend"],
    },
}
REGIONS = [("north america", "USD", "US"), ("europe", "EUR", "EU"), ("asia pacific", "JPY", "AP")]
ADJECTIVE = {"north america": "North American", "europe": "European", "asia pacific": "Asia-Pacific"}

items = []
used = set()


def symbol(name):
    letters = "".join(w[0] for w in name.replace("&", "").split()).upper()
    base = (letters + name.replace(" ", "").upper())[:4]
    s = base
    n = 1
    while s in used:
        s = base[:3] + str(n)
        n += 1
    used.add(s)
    return s


for sector, spec in SECTORS.items():
    for index, (name, does) in enumerate(zip(spec["names"], spec["does"])):
        region, currency, _ = REGIONS[index % 3]
        risk = max(3, min(7, spec["risk"] + rng.choice([-1, 0, 0, 1])))
        size = rng.choice(["a large", "a mid-sized", "a fast-growing", "a long-established"])
        extra = rng.choice([
            "Most of its revenue is recurring.",
            "It has paid a rising dividend for over a decade.",
            "Earnings swing with the economic cycle.",
            "It is expanding into emerging markets.",
            "Debt is low and cash flow is strong.",
            "Margins are thin but volumes are large.",
        ])
        tags = list(spec["tags"][:2])
        if "dividend" in extra:
            tags.append("dividend")
        items.append({
            "id": symbol(name), "kind": "instrument", "name": name, "asset_class": "stock",
            "sector": sector, "region": region, "currency": currency, "risk": risk, "complex": False,
            "esg": rng.randint(*spec["esg"]), "tags": sorted(set(tags)),
            "description": f"{name} is {size} {ADJECTIVE[region]} company that {does}. {extra}",
        })

ETFS = [
    ("World Equity Tracker", "global", "equity", 5, 12, False, ["index", "beginner", "diversified"], "tracks about 1,500 large and mid-sized companies across developed markets"),
    ("US Large Cap Index", "north america", "equity", 5, 7, False, ["index", "beginner"], "tracks the 500 largest listed US companies"),
    ("Europe Equity Index", "europe", "equity", 5, 10, False, ["index"], "tracks large companies across Europe's main stock markets"),
    ("Emerging Markets Equity", "emerging markets", "equity", 6, 18, False, ["index", "growth"], "tracks companies in China, India, Brazil, Taiwan and other emerging economies"),
    ("Asia Pacific ex-Japan", "asia pacific", "equity", 6, 15, False, ["index"], "tracks companies in Australia, Hong Kong, Singapore and Korea"),
    ("Global Clean Energy", "global", "clean energy", 6, 40, False, ["clean energy", "esg", "thematic"], "holds solar, wind, battery and hydrogen companies worldwide"),
    ("Global Dividend Aristocrats", "global", "equity", 5, 30, False, ["dividend", "income"], "holds companies that have raised dividends for at least ten years"),
    ("Technology Sector Index", "north america", "technology", 6, 12, False, ["growth", "ai", "thematic"], "holds the largest software, hardware and semiconductor companies"),
    ("Health Care Sector Index", "global", "health care", 5, 15, False, ["defensive", "thematic"], "holds pharmaceutical, biotech and medical device companies"),
    ("Global Water Infrastructure", "global", "industrials", 5, 45, False, ["esg", "infrastructure", "thematic"], "holds utilities and engineers that treat and deliver water"),
    ("Artificial Intelligence & Robotics", "global", "technology", 6, 40, False, ["ai", "thematic", "growth"], "holds companies building AI chips, software and industrial robots"),
    ("Global Real Estate", "global", "real estate", 5, 24, False, ["income", "dividend"], "holds listed property trusts across developed markets"),
    ("ESG Leaders World", "global", "equity", 5, 20, False, ["esg", "index", "diversified"], "holds the best-rated companies on environmental, social and governance measures in each sector"),
    ("Small Cap World", "global", "equity", 6, 35, False, ["growth", "index"], "tracks about 4,000 smaller listed companies across developed markets"),
    ("Minimum Volatility World", "global", "equity", 4, 25, False, ["defensive", "index"], "selects the developed-market shares whose prices have moved least"),
    ("Gold Physical", "global", "commodities", 5, 12, False, ["commodities", "defensive"], "holds gold bars in a vault, one share backed by a fixed weight of gold"),
    ("Broad Commodities", "global", "commodities", 6, 30, False, ["commodities"], "tracks futures on energy, metals and farm products"),
    ("Short-Term Government Bonds", "europe", "bonds", 2, 7, False, ["income", "beginner", "interest rates"], "holds euro government bonds maturing within three years"),
    ("Global Aggregate Bonds (hedged)", "global", "bonds", 3, 10, False, ["income", "diversified"], "holds investment-grade government and company bonds, currency risk hedged"),
    ("Inflation-Linked Bonds", "global", "bonds", 3, 15, False, ["inflation", "income"], "holds government bonds whose payments rise with inflation"),
    ("Corporate Bonds Investment Grade", "europe", "bonds", 3, 12, False, ["income"], "holds euro bonds of highly rated companies"),
    ("High Yield Bonds", "north america", "bonds", 4, 35, False, ["income"], "holds bonds of lower-rated companies that pay higher interest"),
    ("Emerging Market Debt", "emerging markets", "bonds", 4, 39, False, ["income"], "holds dollar bonds issued by emerging-market governments"),
    ("Green Bonds", "global", "bonds", 3, 20, False, ["esg", "income", "clean energy"], "holds bonds whose proceeds fund renewable energy and efficient buildings"),
    ("Money Market", "europe", "cash", 1, 10, False, ["cash", "beginner"], "holds very short-term deposits and bills, aiming to track the overnight rate"),
    ("Nasdaq-style 2x Leveraged", "north america", "technology", 7, 95, True, ["leveraged", "trading"], "aims for twice the daily return of a large US technology index; reset daily, so returns over longer periods differ from twice the index"),
    ("S&P-style 3x Leveraged", "north america", "equity", 7, 95, True, ["leveraged", "trading"], "aims for three times the daily return of the US large-cap index; losses are magnified just as gains are"),
    ("Europe Equity Short (inverse)", "europe", "equity", 7, 80, True, ["inverse", "trading"], "aims for the opposite of the daily return of the European equity index, for hedging over days, not years"),
    ("Oil 2x Leveraged", "global", "energy", 7, 98, True, ["leveraged", "commodities", "trading"], "aims for twice the daily return of crude-oil futures"),
    ("Volatility Futures", "north america", "equity", 7, 89, True, ["volatility", "trading"], "holds short-dated futures on the US volatility index and loses value in calm markets"),
    ("Dividend Income Europe", "europe", "equity", 5, 29, False, ["dividend", "income"], "holds European companies with high and steady dividends"),
]
for name, region, sector, risk, fees, complex_, tags, does in ETFS:
    currency = {"europe": "EUR", "north america": "USD", "asia pacific": "USD", "emerging markets": "USD", "global": "USD"}[region]
    description = f"An exchange-traded fund that {does}. Ongoing charges {fees / 100:.2f} % a year."
    if complex_:
        description += " A complex product, meant for experienced investors who watch it daily."
    items.append({
        "id": symbol("FP " + name), "kind": "instrument", "name": f"finpulse {name} ETF", "asset_class": "etf",
        "sector": sector, "region": region, "currency": currency, "risk": risk, "complex": complex_,
        "fees_bps": fees, "esg": rng.randint(30, 90) if not complex_ else None, "tags": tags,
        "description": description,
    })

FUNDS = [
    ("Cautious Managed", 3, 95, ["multi-asset", "beginner", "income"], "keeps about a third in shares and the rest in bonds and cash, aiming for steady growth with small swings"),
    ("Balanced Managed", 4, 95, ["multi-asset", "diversified"], "holds about 60 % shares and 40 % bonds, rebalanced every quarter"),
    ("Adventurous Managed", 5, 100, ["multi-asset", "growth"], "holds mostly shares across regions with a small bond buffer"),
    ("Global Income", 4, 85, ["income", "dividend"], "pays a monthly income from dividend shares, bonds and property"),
    ("Sustainable Future", 5, 90, ["esg", "clean energy", "growth"], "invests in companies solving environmental and social problems, and excludes fossil fuels and weapons"),
    ("UK-style Equity Income", 5, 80, ["dividend", "value"], "picks undervalued companies that pay generous dividends"),
    ("Asian Growth", 6, 110, ["growth"], "picks fast-growing companies in China, India and South-East Asia"),
    ("Strategic Bond", 3, 70, ["income", "interest rates"], "moves between government, company and high-yield bonds as rates change"),
    ("Absolute Return", 3, 120, ["alternatives", "defensive"], "aims for a positive return in any market by buying and shorting shares"),
    ("Smaller Companies Europe", 6, 105, ["growth"], "picks small European companies the market overlooks"),
    ("Global Technology Leaders", 6, 95, ["growth", "ai"], "picks dominant technology platforms and the suppliers behind them"),
    ("Healthcare Innovation", 6, 100, ["thematic"], "picks biotech and medical technology companies with new treatments"),
    ("Infrastructure Income", 4, 90, ["infrastructure", "income"], "owns toll roads, airports, pipelines and utilities that earn regulated income"),
    ("Target Date 2045", 5, 40, ["retirement", "multi-asset", "beginner"], "starts mostly in shares and moves gradually into bonds as 2045 approaches"),
    ("Private Credit Access", 6, 150, ["alternatives", "income"], "lends to mid-sized private companies; redemptions are monthly and can be suspended"),
]
for name, risk, fees, tags, does in FUNDS:
    complex_ = "alternatives" in tags and risk >= 6
    items.append({
        "id": symbol("FPF " + name), "kind": "instrument", "name": f"finpulse {name} Fund", "asset_class": "fund",
        "sector": "multi-asset" if "multi-asset" in tags else tags[0], "region": "global", "currency": "EUR",
        "risk": risk, "complex": complex_, "fees_bps": fees, "esg": rng.randint(40, 90), "tags": tags,
        "description": f"An actively managed fund that {does}. Ongoing charges {fees / 100:.2f} % a year.",
    })

BONDS = [
    ("German-style Federal Bond 2030", "europe", "EUR", 2, ["government", "beginner"], "a government bond paying 2.1 % a year until 2030, issued by a AAA-rated state"),
    ("German-style Federal Bond 2035", "europe", "EUR", 2, ["government"], "a government bond paying 2.5 % a year until 2035"),
    ("US-style Treasury Note 2028", "north america", "USD", 2, ["government", "beginner"], "a US government note paying 4.0 % a year until 2028"),
    ("US-style Treasury Bond 2045", "north america", "USD", 3, ["government", "interest rates"], "a long US government bond paying 4.6 % a year until 2045; its price moves a lot when rates change"),
    ("UK-style Gilt 2032", "europe", "GBP", 2, ["government"], "a UK government bond paying 3.8 % a year until 2032"),
    ("Japan Government Bond 2034", "asia pacific", "JPY", 2, ["government"], "a Japanese government bond paying 1.2 % a year until 2034"),
    ("Inflation-Linked Treasury 2033", "north america", "USD", 2, ["government", "inflation"], "a government bond whose principal rises with consumer prices"),
    ("Harbourline Bank Senior 2029", "europe", "EUR", 3, ["corporate"], "a senior bond of Harbourline Bank paying 3.4 % a year until 2029"),
    ("Forgewell Engineering 2031", "europe", "EUR", 3, ["corporate"], "a bond of an engineering group paying 3.9 % a year until 2031"),
    ("Signalpoint Telecom 2030", "europe", "EUR", 3, ["corporate"], "a bond of a telecom operator paying 4.1 % a year until 2030"),
    ("Northwind Semiconductors 2032", "north america", "USD", 3, ["corporate"], "a bond of a chip designer paying 4.8 % a year until 2032"),
    ("Hearthstone Foods 2028", "north america", "USD", 3, ["corporate", "defensive"], "a bond of a food maker paying 4.3 % a year until 2028"),
    ("Solvane Renewables Green 2033", "europe", "EUR", 3, ["green", "esg", "clean energy"], "a green bond funding new solar parks, paying 3.7 % a year until 2033"),
    ("Evergrid Utilities Green 2036", "europe", "EUR", 3, ["green", "esg", "infrastructure"], "a green bond funding grid upgrades, paying 3.9 % a year until 2036"),
    ("World Development Bank Sustainable 2031", "global", "USD", 2, ["supranational", "esg"], "a bond of a development bank owned by many governments, funding clean water and schools"),
    ("Velocity Motors High Yield 2030", "north america", "USD", 5, ["high yield"], "a lower-rated bond of a carmaker paying 7.5 % a year until 2030"),
    ("Caspian Offshore Drilling High Yield 2029", "global", "USD", 5, ["high yield", "commodities"], "a lower-rated bond of a drilling contractor paying 9.0 % a year until 2029"),
    ("Brazil-style Sovereign 2034", "emerging markets", "USD", 4, ["government", "emerging"], "a dollar bond of an emerging-market government paying 6.2 % a year"),
    ("Indonesia-style Sovereign 2035", "emerging markets", "USD", 4, ["government", "emerging"], "a dollar bond of an emerging-market government paying 5.6 % a year"),
    ("Harbourline Bank AT1 Perpetual", "europe", "EUR", 6, ["contingent convertible", "high yield"], "a perpetual bank bond that converts into shares or is written off if the bank's capital falls too low"),
    ("Granite Reinsurance Cat Bond 2028", "global", "USD", 6, ["catastrophe", "alternatives"], "a catastrophe bond that loses principal if a major hurricane strikes the covered coast"),
]
for name, region, currency, risk, tags, what in BONDS:
    complex_ = bool({"contingent convertible", "catastrophe"} & set(tags))
    description = f"{what[0].upper()}{what[1:]}."
    if complex_:
        description += " A complex product: its payments depend on events beyond the issuer's credit."
    items.append({
        "id": symbol("B " + name), "kind": "instrument", "name": name, "asset_class": "bond",
        "sector": "bonds", "region": region, "currency": currency, "risk": risk, "complex": complex_,
        "esg": rng.randint(40, 90) if "esg" in tags else None, "tags": tags,
        "description": description,
    })

ARTICLES = [
    ("What is an ETF?", "basics", ["beginner", "index"], "How exchange-traded funds pool money to track an index, why their fees are low and how to buy one."),
    ("Index funds versus active funds", "basics", ["beginner", "index"], "What the research says about paying a manager to beat the market, and when it can make sense."),
    ("How compound returns grow your savings", "basics", ["beginner", "retirement"], "Why starting early matters more than picking the perfect fund, with worked examples."),
    ("Understanding the risk scale from 1 to 7", "basics", ["beginner"], "What the risk class on a fund's key information document measures and what it leaves out."),
    ("Diversification: not putting all eggs in one basket", "basics", ["beginner", "diversified"], "How spreading money across regions and asset classes reduces the swings of a portfolio."),
    ("Bonds explained: coupons, maturity and yield", "bonds", ["beginner", "income"], "How a bond pays interest, why its price falls when rates rise and what yield to maturity means."),
    ("Why bond prices fall when interest rates rise", "bonds", ["interest rates", "income"], "Duration in plain words, and how to choose between short and long bonds."),
    ("Green bonds: what your money funds", "bonds", ["esg", "green", "clean energy"], "How green bond frameworks work and how to check what the proceeds really pay for."),
    ("High-yield bonds: more income, more risk", "bonds", ["high yield", "income"], "What credit ratings mean and how defaults affect a high-yield portfolio."),
    ("Inflation and your savings", "macro", ["inflation"], "How inflation erodes cash and which assets have protected purchasing power in the past."),
    ("How central banks set interest rates", "macro", ["interest rates"], "What a rate decision changes for mortgages, savings, bonds and shares."),
    ("Reading a recession: signals investors watch", "macro", ["cyclical"], "Yield curves, purchasing managers' indices and unemployment claims, explained."),
    ("Currency risk when investing abroad", "macro", ["diversified"], "How exchange rates change returns on foreign shares and when hedged share classes help."),
    ("What moves oil prices", "commodities", ["commodities", "energy"], "Supply decisions, inventories and demand from China: the forces behind crude prices."),
    ("Gold in a portfolio", "commodities", ["commodities", "defensive"], "Why some investors hold gold, what it has done in crises and what it costs to hold."),
    ("Dividend investing for income", "income", ["dividend", "income"], "How dividend yield, payout ratio and dividend growth fit together, and the traps to avoid."),
    ("Real estate investment trusts explained", "income", ["income", "real estate"], "How REITs pay out rental income and why they react to interest rates."),
    ("Building an income portfolio in retirement", "income", ["retirement", "income"], "Mixing bonds, dividend shares and cash to pay the bills without selling at the wrong time."),
    ("ESG investing: what the scores mean", "esg", ["esg"], "How rating agencies score companies on environment, society and governance, and why scores disagree."),
    ("Clean energy stocks: growth and volatility", "esg", ["clean energy", "esg", "growth"], "Why renewable energy shares swing with interest rates and subsidy news."),
    ("Avoiding greenwashing", "esg", ["esg"], "Questions to ask before trusting a fund's sustainability label."),
    ("Leveraged ETFs and daily resets", "trading", ["leveraged", "trading"], "Why a 2x fund held for months does not return twice its index, with a worked example."),
    ("Inverse ETFs: hedging for days, not years", "trading", ["inverse", "trading"], "How inverse products work and why they lose value in sideways markets."),
    ("Stop-loss and limit orders", "trading", ["trading"], "How order types protect you from bad fills, and when a stop-loss can hurt."),
    ("Volatility products are not insurance", "trading", ["volatility", "trading"], "Why products on the volatility index decay and who uses them."),
    ("Contingent convertible bonds", "bonds", ["contingent convertible", "high yield"], "How bank AT1 bonds absorb losses and what happened when one was written off."),
    ("Catastrophe bonds", "bonds", ["catastrophe", "alternatives"], "How investors earn a premium for insuring hurricanes and earthquakes."),
    ("How to read a company's annual report", "stocks", ["value"], "Revenue, margins, cash flow and debt: where to find them and what they tell you."),
    ("Growth versus value investing", "stocks", ["growth", "value"], "Two styles, their long histories and why they take turns leading."),
    ("Price-to-earnings ratios in plain words", "stocks", ["value"], "What a P/E says about expectations and why it differs between sectors."),
    ("Semiconductors: the industry behind AI", "technology", ["ai", "technology", "growth"], "Designers, foundries and equipment makers: who earns what in the chip supply chain."),
    ("Software as a service business models", "technology", ["technology", "growth"], "Recurring revenue, churn and why investors pay high multiples for subscriptions."),
    ("Cybersecurity as an investment theme", "technology", ["technology", "thematic"], "Why spending on security keeps growing and which businesses benefit."),
    ("Biotech: trials, approvals and binary risk", "health care", ["health care", "thematic"], "How a drug moves from lab to market and why biotech shares jump on trial results."),
    ("Ageing populations and health care demand", "health care", ["health care", "ageing population", "defensive"], "How demographics drive spending on medicines, devices and care."),
    ("Banks and interest rates", "financials", ["financials", "interest rates"], "How net interest margins work and why bank shares like higher rates, up to a point."),
    ("Insurance companies as investments", "financials", ["financials", "dividend"], "Premiums, claims and float: how insurers make money."),
    ("Energy transition: from oil to electricity", "energy", ["energy", "clean energy"], "How oil majors, utilities and new entrants position for lower-carbon energy."),
    ("Infrastructure: toll roads, towers and pipes", "industrials", ["infrastructure", "income"], "Why regulated assets pay steady income and how inflation clauses protect it."),
    ("Emerging markets: growth and governance", "emerging", ["emerging markets", "growth"], "Higher growth, higher risk: what to weigh before investing in emerging economies."),
    ("China's economy and global markets", "emerging", ["emerging markets"], "How Chinese growth, property and policy decisions ripple through commodity and equity markets."),
    ("Japan's market after corporate reforms", "asia pacific", ["asia pacific", "value"], "Why governance reforms and buybacks have drawn investors back to Japanese shares."),
    ("Retirement saving: how much is enough?", "planning", ["retirement", "beginner"], "Rules of thumb for replacement rates, and how to test them against your own budget."),
    ("Rebalancing: when and how", "planning", ["diversified"], "Why a portfolio drifts and how rebalancing keeps its risk where you chose it."),
    ("Emergency funds before investing", "planning", ["beginner", "cash"], "How much cash to keep aside, and where, before you put money in markets."),
    ("Money market funds and savings accounts", "planning", ["cash", "beginner"], "Comparing yield, access and protection for cash you may need soon."),
    ("Target-date funds", "planning", ["retirement", "multi-asset"], "How glide paths shift from shares to bonds as your retirement date nears."),
    ("Taxes on investment returns, in general terms", "planning", ["beginner"], "Dividends, interest and capital gains are often taxed differently; how wrappers change that."),
    ("Behavioural traps: panic selling and chasing winners", "planning", ["beginner"], "The mistakes that cost investors most and simple rules that help."),
    ("Fees: the return you keep", "basics", ["beginner", "index"], "How a 1 % annual fee compounds over thirty years, compared with a 0.1 % tracker."),
    ("Private credit for individual investors", "alternatives", ["alternatives", "income"], "What lending to private companies pays and why access to your money can be limited."),
    ("Absolute return funds", "alternatives", ["alternatives", "defensive"], "What these funds promise, what they have delivered and how to judge one."),
    ("Commodities as an inflation hedge", "commodities", ["commodities", "inflation"], "When futures-based commodity funds have protected portfolios, and what roll costs do."),
    ("Electric vehicles: the whole supply chain", "consumer discretionary", ["clean energy", "growth", "cyclical"], "Batteries, lithium, chargers and carmakers: where the value goes."),
    ("Defensive sectors in a downturn", "stocks", ["defensive", "dividend"], "Why staples, utilities and health care often fall less when the economy slows."),
]
for n, (title, topic, tags, summary) in enumerate(ARTICLES):
    level = "beginner" if "beginner" in tags else ("experienced" if {"leveraged", "inverse", "volatility", "contingent convertible", "catastrophe"} & set(tags) else "intermediate")
    article = "An" if level[0] in "aeiou" else "A"
    slug = "".join(c if c.isalnum() else "-" for c in title.lower()).strip("-")
    while "--" in slug:
        slug = slug.replace("--", "-")
    items.append({
        "id": "learn-" + slug[:48].rstrip("-"), "kind": "article", "name": title, "sector": topic,
        "region": "global", "tags": sorted(set(tags + [level])),
        "description": f"{summary} {article} {level}-level guide from the finpulse learning centre.",
        "published_at": f"2026-{1 + n % 11:02d}-{1 + (n * 7) % 27:02d}T09:00:00Z",
    })

for item in items:
    print(json.dumps({k: v for k, v in item.items() if v is not None}, ensure_ascii=False))
