"""What the demo corpus's mailboxes hold: the people, the business stories (each a message or a thread, and the
questions its owner might ask about it), office chatter and newsletters, and the malformed files.

A story run with `ask=False` is a distractor: the same kind of mail about another counterparty, colleague or topic, so
a question is only answered by reading the right thread. Stories never reuse a counterparty, topic or colleague role
within one mailbox (`Mailbox.fresh`), which keeps every question unambiguous.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from .demo_mail import DemoMail, Mailbox, Person, clock, houston_date, working_day

FIRST = [("Sara", "sara"), ("Mark", "mark"), ("Jeff", "jeff"), ("Kay", "kay"), ("Louise", "louise"),
         ("Vince", "vince"), ("Tana", "tana"), ("Greg", "greg"), ("Kim", "kim"), ("Richard", "richard"),
         ("Susan", "susan"), ("Phillip", "phillip"), ("Chris", "chris"), ("Debra", "debra"), ("Elena", "elena"),
         ("Stacy", "stacy"), ("John", "john"), ("Michelle", "michelle"), ("Daren", "daren"), ("Lynn", "lynn"),
         ("Carol", "carol"), ("Ben", "ben"), ("Dana", "dana"), ("Steve", "steve"), ("Paul", "paul"),
         ("Rosalie", "rosalie"), ("Kevin", "kevin"), ("Andrea", "andrea"), ("Gerald", "gerald"), ("Tom", "tom"),
         ("José", "jose"), ("Renée", "renee"), ("Zoë", "zoe"), ("François", "francois"), ("Anil", "anil"),
         ("Mei", "mei"), ("Grace", "grace"), ("Hector", "hector"), ("Nora", "nora"), ("Wes", "wes")]
LAST = ["Whitfield", "Delgado", "Brennan", "Okafor", "Lindqvist", "Marsh", "Patel", "Nguyen", "Hollis", "Carver",
        "Romero", "Fischer", "Galloway", "Ibarra", "Kowalski", "Mercer", "Pruitt", "Reyes", "Sutton", "Tate", "Vance",
        "Weller", "Yates", "Abbott", "Bishop", "Crowley", "Dunn", "Ellison", "Foley", "Grady", "Hartley", "Keane"]
COMPANIES = {"Dynegy": "dynegy.com", "Reliant Energy": "reliant.com", "Calpine": "calpine.com", "Aquila": "aquila.com",
             "Mirant": "mirant.com", "Williams": "williams.com", "Duke Energy": "duke-energy.com",
             "Tenaska": "tenaska.com", "Cinergy": "cinergy.com", "Sempra": "sempra.com", "Coral Energy": "coral.com",
             "El Paso Merchant": "elpaso.com"}
TITLES = ["Director, Gas Marketing", "Manager, Capacity Trading", "Vice President, Origination",
          "Senior Trader", "Director, Structured Products", "Contract Administrator"]


@dataclass
class Cast:
    """Everyone in the corpus: the inbox owners, their Enron colleagues, people at other companies, a travel agent."""

    owners: list[Person]
    internal: list[Person]
    external: list[Person]
    travel_agent: Person

    @classmethod
    def draw(cls, rng: random.Random, users: int) -> Cast:
        # Enron people have distinct first names: questions name colleagues by first name ("the review with Sara").
        firsts = rng.sample(FIRST, users + 14) + [rng.choice(FIRST) for _ in range(len(LAST) - users - 14)]
        names = list(zip(firsts, rng.sample(LAST, len(LAST)), strict=True))
        enron = [Person(f, last, f"{a}.{last.lower()}@enron.com", title=rng.choice(TITLES)) for (f, a), last in
                 names[: users + 14]]
        outside, rest = [], names[users + 14:]
        for i, (company, domain) in enumerate(COMPANIES.items()):
            for (f, a), last in (rest[(2 * i) % len(rest)], rest[(2 * i + 1) % len(rest)]):
                outside.append(Person(f, last, f"{a[0]}{last.lower()}@{domain}", company, rng.choice(TITLES)))
        agent = Person("Kathy", "Lomax", "kathy.lomax@ctctravel.com", "Corporate Travel Center")
        return cls(owners=enron[:users], internal=enron[users:], external=outside, travel_agent=agent)

    def companies(self) -> list[str]:
        """The other companies, in a fixed order."""
        return list(dict.fromkeys(p.company for p in self.external))


def newcomer(box: Mailbox, company: str = "Enron") -> Person:
    """Someone who is not in the cast: a new hire, a plant manager."""
    taken = {p.name for p in [*box.cast.internal, *box.cast.external, *box.cast.owners]}
    while True:
        (first, ascii_first), last = box.rng.choice(FIRST), box.rng.choice(LAST)
        if f"{first} {last}" not in taken:
            return Person(first, last, f"{ascii_first}.{last.lower()}@enron.com", company)


def day(d: date) -> str:
    return f"{d:%A, %B} {d.day}"


def ahead(box: Mailbox, when: datetime | date, low: int, high: int) -> date:
    start = when.date() if isinstance(when, datetime) else when
    return working_day(start + timedelta(days=box.rng.randint(low, high)))


def sign(box: Mailbox, person: Person) -> str:
    return box.rng.choice([person.first, person.first, f"Thanks,\n{person.first}", f"Regards,\n{person.name}"])


# ----------------------------------------------------------------------------------------------------------------
# Stories: each adds its messages, and with `ask` the questions they answer


TOPICS = ["quarterly business review", "mid-year performance review", "origination strategy session",
          "storage optimization meeting", "credit exposure review", "budget walk-through", "offsite planning meeting",
          "risk book review", "West desk strategy meeting", "systems cutover meeting", "weather hedge brainstorm"]
ROOMS = ["EB 3321", "EB 2868", "EB 4102", "EB 30C1", "ECS 06716", "ECS 04990", "EB 5C2", "EB 1966", "EB 3259"]
CONFLICTS = ["I'm in Portland for the PGE transition meeting that day", "I have the PRC committee all afternoon",
             "I'm stuck in the Calpine negotiations that week", "I'll be at the AGA conference in Denver",
             "that's the day of the board dry run"]


def meeting(box: Mailbox, ask: bool) -> None:
    rng, me = box.rng, box.owner
    boss, guest = box.colleague("meets"), box.colleague("joins")
    topic = box.fresh("topic", TOPICS)
    sent = box.at(box.story_day(), 7, 11)
    d1, t1 = ahead(box, sent, 3, 12), (rng.randint(9, 16), rng.choice((0, 30)))
    room1, room2 = rng.sample(ROOMS, 2)
    opener = rng.choice(["Can we get this on the calendar?", "Time to pin down a date.", "Following up on Monday."])
    what = rng.choice(["the numbers", "the open items", "the plan"])
    m1 = box.mail(boss, [me], topic.title(), sent,
                  f"{me.first},\n\n{opener} I'd like to hold the {topic} on {day(d1)} at {clock(*t1)} in {room1}. "
                  f"{guest.name} will join us to walk through {what}.\n\nLet me know if that works.\n\n{boss.first}",
                  cc=[guest] if rng.random() < 0.5 else None)
    if rng.random() < 0.6:
        d2, t2 = ahead(box, d1, 1, 6), (rng.randint(8, 16), rng.choice((0, 30)))
        m2 = box.reply(m1, me, f"{boss.first},\n\n{rng.choice(CONFLICTS)}. Could we do {day(d2)} at {clock(*t2)} "
                               f"instead?\n\n{me.first}")
        m3 = box.reply(m2, boss, f"{day(d2)} at {clock(*t2)} works. I moved us to {room2} since {room1} is taken."
                                 f"\n\n{boss.first}", to=[me])
        when, room, cited, on = f"{day(d2)} at {clock(*t2)}", room2, [m3], d2
    else:
        box.reply(m1, me, rng.choice(["Works for me. See you then.", "That works - I'll be there."]))
        when, room, cited, on = f"{day(d1)} at {clock(*t1)}", room1, [m1], d1
    if ask:
        box.ask(rng.choice([f"When is the {topic} with {boss.first} scheduled?",
                            f"What day and time is my {topic} with {boss.first}?",
                            f"When am I meeting {boss.first} for the {topic}?"]), when, cited, realistic=0.9, by=on)
        if rng.random() < 0.5:
            box.ask(rng.choice([f"Which room is the {topic} in?", f"Where is the {topic} with {boss.first} being "
                                                                   "held?"]), room, cited, realistic=0.75, by=on)


PIPELINES = [("Transco", ["Station 65", "Station 30"], ["Zone 6 New York", "Zone 5"]),
             ("Tennessee Gas", ["Zone 0", "Zone 1"], ["Zone 6 Boston", "Zone 4"]),
             ("El Paso Natural Gas", ["Permian", "San Juan"], ["Topock", "Ehrenberg"]),
             ("Northern Natural", ["Demarc", "Ventura"], ["the Twin Cities", "Ventura"]),
             ("Transwestern", ["Permian", "San Juan"], ["Needles", "Topock"]),
             ("NGPL", ["Midcontinent", "Gulf Coast"], ["the Chicago citygate"]),
             ("Kern River", ["Opal"], ["Kramer Junction", "Wheeler Ridge"]),
             ("Houston Pipe Line", ["Katy", "Carthage"], ["the Houston Ship Channel"]),
             ("Florida Gas", ["Mobile Bay"], ["Zone 3"])]


def capacity(box: Mailbox, ask: bool) -> None:
    rng, me = box.rng, box.owner
    company = box.fresh("counterparty", box.cast.companies())
    who = box.contact(company)
    pipe, receipts, deliveries = box.fresh("pipeline", PIPELINES)
    receipt, delivery = rng.choice(receipts), rng.choice(deliveries)
    volume = rng.choice((10, 15, 20, 25, 30, 40, 50, 75)) * 1000
    sent = box.at(box.story_day())
    start = (sent.replace(day=1) + timedelta(days=40)).replace(day=1)
    term = f"{start:%B %Y} through {(start + timedelta(days=31 * rng.choice((3, 6, 12)))):%B %Y}"
    offer = rng.randint(120, 420) / 1000
    counter = offer - rng.randint(20, 60) / 1000
    agreed = round((offer + counter) / 2, 3)
    deal = f"{rng.choice('QVKN')}{rng.randint(10000, 99999)}"
    m1 = box.mail(who, [me], f"{pipe} capacity - {start:%B} start", sent,
                  f"{me.first},\n\nFollowing up on our call this morning. {company} can release {volume:,} MMBtu/d of "
                  f"firm capacity on {pipe} from {receipt} to {delivery} for {term}. We are asking ${offer:.3f}/MMBtu "
                  f"on the demand charge, fuel at tariff.\n\nLet me know if you want to move on it; I have another "
                  f"party looking at it.\n\nRegards,\n{who.name}\n{who.title}\n{company}")
    m2 = box.reply(m1, me, f"{who.first},\n\nWe are interested, but ${offer:.3f} is rich given where the basis is "
                           f"trading. We could do ${counter:.3f}/MMBtu for the full {volume:,} MMBtu/d.\n\n{me.first}")
    m3 = box.reply(m2, who, f"{me.first},\n\nWe can meet in the middle at ${agreed:.3f}/MMBtu. Consider it done. The "
                            f"deal number on our side is {deal}; our contracts group will send the confirmation over "
                            f"today.\n\n{who.first}")
    # After any question about it is asked: an agent that ignores the question's date reads the wrong price.
    revised = round(agreed + rng.choice((-1, 1)) * rng.randint(10, 40) / 1000, 3)
    box.mail(who, [me], f"{pipe} capacity - revised rate", m3.date + timedelta(days=rng.randint(20, 35)),
             f"{me.first},\n\nPer our discussion, the demand charge on deal {deal} is revised to ${revised:.3f}/MMBtu "
             f"starting next month. Everything else stays as confirmed.\n\n{who.first}")
    if ask:
        box.ask(rng.choice([f"What price did we agree with {company} for the {pipe} capacity?",
                            f"What demand charge did we settle on for the {pipe} capacity to {delivery}?",
                            f"What rate did {who.first} agree to on the {company} capacity deal?"]),
                f"${agreed:.3f}/MMBtu", [m3], realistic=0.95)
        extra = rng.choice(("volume", "deal", None))
        if extra == "volume":
            box.ask(f"How much {pipe} capacity is {company} releasing to us?", f"{volume:,} MMBtu/d", [m1],
                    realistic=0.8)
        elif extra == "deal":
            box.ask(f"What's {company}'s deal number for the {pipe} capacity?", deal, [m3], realistic=0.7)


HUBS = ["Palo Verde", "Mid-Columbia", "COB", "Cinergy", "Entergy", "PJM West", "ERCOT North", "Four Corners"]


def power_trade(box: Mailbox, ask: bool) -> None:
    rng, me = box.rng, box.owner
    clerk = box.colleague("clears")
    company, hub = box.fresh("buyer", box.cast.companies()), box.fresh("hub", HUBS)
    sent = box.at(box.story_day())
    month = f"{(sent.replace(day=1) + timedelta(days=35)):%B %Y}"
    peak, mw, price = rng.choice(("on-peak", "off-peak")), rng.choice((25, 50, 75, 100, 150)), rng.randint(2200, 9800)
    m1 = box.mail(clerk, [me], f"Deal confirmation - {company} {hub} {month}", sent,
                  f"{me.first},\n\nPlease check the details below before we send the confirm to {company}.\n\n"
                  f"Trade date: {sent:%m/%d/%Y}\nSeller: Enron Power Marketing, Inc.\nBuyer: {company}\n"
                  f"Product: {hub} {peak} firm power, {month}\nVolume: {mw} MW\nPrice: ${price / 100:.2f}/MWh\n"
                  f"EnronOnline ID: {rng.randint(1000000, 1999999)}\n\nIf anything is off let me know by 3:00 PM."
                  f"\n\n{sign(box, clerk)}")
    box.reply(m1, me, rng.choice(["Looks right. Thanks.", "Confirmed, go ahead and send it.", "All correct."]))
    if ask:
        box.ask(rng.choice([f"At what price did we sell {month} {peak} power at {hub} to {company}?",
                            f"What was the price on the {company} {hub} deal for {month}?"]),
                f"${price / 100:.2f}/MWh", [m1], realistic=0.85)
        if rng.random() < 0.4:
            box.ask(f"How many MW did {company} buy at {hub} for {month}?", f"{mw} MW", [m1], realistic=0.7)


TRIPS = [("Portland", "PDX", "Benson Hotel"), ("Calgary", "YYC", "Fairmont Palliser"),
         ("Chicago", "ORD", "Palmer House Hilton"), ("New York", "LGA", "Waldorf-Astoria"), ("London", "LHR", "Savoy"),
         ("Omaha", "OMA", "Embassy Suites Old Market"), ("San Francisco", "SFO", "Hyatt Regency Embarcadero"),
         ("Denver", "DEN", "Brown Palace"), ("Washington", "DCA", "Hay-Adams"), ("Sacramento", "SMF", "Citizen Hotel")]
AIRLINES = ["Continental", "American", "Delta", "United"]


def travel(box: Mailbox, ask: bool) -> None:
    rng, me = box.rng, box.owner
    city, code, hotel = box.fresh("trip", TRIPS)
    sent = box.at(box.story_day())
    leave = ahead(box, sent, 5, 15)
    flight = f"{rng.choice(AIRLINES)} flight {rng.randint(100, 1999)}"
    hour, minute, nights = rng.randint(6, 17), rng.choice((0, 15, 30, 45)), rng.randint(1, 4)
    locator = "".join(rng.choice("ABCDEFGHJKLMNPQRSTUVWXYZ23456789") for _ in range(6))
    rows = [("Passenger", me.name.upper()), ("Record locator", locator), ("Flight", flight),
            ("Departs", f"Houston (IAH) {day(leave)} {clock(hour, minute)}"), ("Arrives", f"{city} ({code})"),
            ("Hotel", f"{hotel}, {nights} night{'s' if nights > 1 else ''}"), ("Fare", f"${rng.randint(240, 1900)}.00")]
    html = ("<html><head><style>td {font-family: Arial}</style></head><body>\n<h2>Corporate Travel Center</h2>\n"
            "<p>Your reservation is confirmed.</p>\n<table>\n"
            + "".join(f"<tr><td><b>{k}:</b></td><td>{v}</td></tr>\n" for k, v in rows)
            + "</table>\n<p>Please call 713-860-1100 for changes.</p>\n</body></html>\n")
    m1 = box.mail(box.cast.travel_agent, [me], f"Itinerary for {me.name.upper()} - {city} {leave:%m/%d}", sent,
                  html=html)
    helper = box.colleague("assists")
    pickup = clock(hour - 2 if hour >= 8 else 5, rng.choice((0, 15, 30, 45)))
    m2 = box.mail(helper, [me], f"Car for {city} trip", box.later(sent, 1, 30),
                  f"{me.first} - your car will pick you up at home at {pickup} on {day(leave)} for the "
                  f"{clock(hour, minute)} flight. Confirmation is under your name.\n\n{helper.first}")
    if ask:
        options = [(f"What is the confirmation code for my {city} trip?", locator, m1, 0.8),
                   (f"What flight am I on to {city}?", flight, m1, 0.9),
                   (f"Which hotel am I staying at in {city}?", hotel, m1, 0.9),
                   (f"What time is the car picking me up for the {city} trip?", pickup, m2, 0.85)]
        for question, answer, cited, realistic in rng.sample(options, 2):
            box.ask(question, answer, [cited], realistic=realistic, by=leave)


GROUPS = ["the Gas Structuring group", "West Power Trading", "the Fundamentals group", "ENA Legal", "Gas Logistics",
          "the Research group", "Risk Management", "Origination"]
ROLES = ["Analyst", "Associate", "Senior Specialist", "Manager"]


def new_hire(box: Mailbox, ask: bool) -> None:
    rng, me = box.rng, box.owner
    hr, manager, hire = box.colleague("hr"), box.colleague("manages"), newcomer(box)
    group, role = box.fresh("group", GROUPS), rng.choice(ROLES)
    sent = box.at(box.story_day())
    start = ahead(box, sent, 5, 20)
    start -= timedelta(days=start.weekday())  # people start on a Monday
    start = start if start > sent.date() else start + timedelta(days=7)
    origin = rng.choice(["Rice University", "UT Austin", "Texas A&M", "Koch Industries", "Arthur Andersen"])
    m1 = box.mail(hr, [me, manager], f"New {role} joining {group.removeprefix('the ')}", sent,
                  f"All,\n\nPlease welcome {hire.name}, who joins {group} as {'an' if role[0] in 'AEIOU' else 'a'} "
                  f"{role} on {day(start)}. {hire.first} comes to us from {origin} and will sit at "
                  f"{rng.choice(ROOMS)}, reporting to {manager.name}.\n\nPlease stop by and say hello.\n\n{hr.name}\n"
                  "Human Resources")
    if ask:
        box.ask(rng.choice([f"When does {hire.name} start?", f"What is {hire.name}'s first day?"]), day(start), [m1],
                realistic=0.8, by=start)
        if rng.random() < 0.5:
            box.ask(f"Who will {hire.name} report to?", manager.name, [m1], realistic=0.75, by=start)


def pep_deadline(box: Mailbox, ask: bool) -> None:
    rng, me = box.rng, box.owner
    if not box.once("pep"):  # one review cycle per mailbox
        return
    sender = Person("Performance", "Management", "perfmgmt@enron.com")
    sent = box.at(box.story_day(), 6, 8)
    due = ahead(box, sent, 7, 14)
    phone = f"713-853-{rng.randint(1000, 9999)}"
    cycle = "mid-year" if sent.month < 8 else "year-end"
    text = (f"The {cycle} Performance Evaluation Process (PEP) is now open.\n\nPlease complete the feedback forms for "
            f"the employees who selected you as a reviewer by {day(due)}, 5:00 PM CT. Log in with your Enron network "
            f"ID. For help, call the PEP help desk at {phone}.\n\nThank you for your participation.")
    html = "<html><body>" + "".join(f"<p>{p}</p>" for p in text.split("\n\n")) + "</body></html>"
    m1 = box.mail(sender, [me], f"{cycle.title()} PEP feedback due {due:%m/%d}", sent, text, html=html)
    if ask:
        box.ask(rng.choice(["What's the deadline for my PEP feedback?", "When is PEP feedback due?"]), day(due),
                [m1], realistic=0.85, by=due)
        if rng.random() < 0.3:
            box.ask("What's the phone number of the PEP help desk?", phone, [m1], realistic=0.5, by=due)


AGREEMENTS = ["ISDA Master Agreement", "GISB base contract", "EEI Master Power Purchase and Sale Agreement",
              "Master Firm Purchase/Sale Agreement"]


def contract(box: Mailbox, ask: bool) -> None:
    rng, me = box.rng, box.owner
    lawyer = box.colleague("legal")
    company, agreement = box.fresh("contract party", box.cast.companies()), rng.choice(AGREEMENTS)
    short = agreement.split()[0]
    sent = box.at(box.story_day())
    due = ahead(box, sent, 2, 7)
    theirs, ours = rng.randint(5, 40), rng.randint(5, 40)
    version = rng.randint(2, 6)
    name = f"{company.split()[0]}_{short.replace('/', '')}_draft_v{version}.doc"
    body = (f"{company} / Enron North America {agreement}\nDraft {version}\n\nThreshold ({company}): "
            f"${theirs},000,000\nThreshold (ENA): ${ours},000,000\n").encode()
    m1 = box.mail(lawyer, [me], f"{company} {short} - revised draft", sent,
                  f"{me.first},\n\nAttached is the revised draft of the {agreement} with {company}. The main change is "
                  f"the collateral threshold, which is now ${theirs} million for {company} and ${ours} million for "
                  f"ENA. I also tightened the cross-default language in Part 1.\n\nPlease send me your comments by "
                  f"{day(due)}.\n\n{lawyer.first}\n\n{lawyer.name}\nSenior Counsel, Enron North America Corp.\n"
                  f"1400 Smith Street\nHouston, Texas 77002", attachments=[(name, body)])
    if rng.random() < 0.5:
        box.reply(m1, me, f"{lawyer.first},\n\nThanks. I'll get you comments by {day(due)}.\n\n{me.first}")
    if ask:
        box.ask(rng.choice([f"What collateral threshold did we give {company} in the {short} draft?",
                            f"What is {company}'s threshold in the revised {agreement}?"]),
                f"${theirs} million", [m1], realistic=0.8, by=due)
        if rng.random() < 0.5:
            box.ask(f"When does {lawyer.first} need my comments on the {company} {short}?", day(due), [m1],
                    realistic=0.85, by=due)


PLANTS = ["Moss Landing", "Pittsburg", "Doswell", "Wheatland", "Gleason", "Brownsville", "Lincoln Center", "Wilton"]


def site_visit(box: Mailbox, ask: bool) -> None:
    rng, me = box.rng, box.owner
    mate = box.colleague("forwards")
    plant, company = box.fresh("plant", PLANTS), rng.choice(box.cast.companies())
    host, leader = box.contact(company), newcomer(box, company)
    sent = box.at(box.story_day())
    visit, hour = ahead(box, sent, 4, 12), (rng.randint(7, 10), rng.choice((0, 30)))
    # The original went to the colleague: it is not in this mailbox, only inside the forward.
    original = DemoMail(host, [mate], f"{plant} site visit", sent,
                        f"{mate.first},\n\nThe site visit to the {plant} plant is confirmed for {day(visit)}. "
                        f"{leader.name}, our plant manager, will lead the tour. Please meet at the main gate at "
                        f"{clock(*hour)} and bring steel-toed boots and safety glasses; we will provide hard hats."
                        f"\n\nBest regards,\n{host.name}\n{company}")
    fwd = box.forward(mate, [me], f"{me.first} - I can't make this one. Can you cover for me? Details below.",
                      original, box.later(sent, 1, 26))
    if ask:
        box.ask(rng.choice([f"Who is leading the tour at the {plant} plant?",
                            f"Who will show us around the {plant} plant?"]), leader.name, [fwd], realistic=0.75,
                by=visit)
        if rng.random() < 0.5:
            box.ask(f"What time do I need to be at the {plant} main gate?", clock(*hour), [fwd], realistic=0.85,
                    by=visit)


AGENDA = ["Storage ratchets", "Imbalance cash-out", "Q3 nominations", "Credit support", "Metering at Katy",
          "Transport fuel rates", "Outage schedule"]


def conference_call(box: Mailbox, ask: bool) -> None:
    rng, me = box.rng, box.owner
    host = box.colleague("calls")
    company = box.fresh("call party", box.cast.companies())
    sent = box.at(box.story_day())
    when, hour = ahead(box, sent, 1, 6), (rng.randint(8, 16), rng.choice((0, 30)))
    dial, passcode = f"1-800-{rng.randint(200, 999)}-{rng.randint(1000, 9999)}", str(rng.randint(100000, 999999))
    items = rng.sample(AGENDA, 2)
    m1 = box.mail(host, [me, *rng.sample(box.cast.internal, 2)], f"Conference call with {company} - {when:%m/%d}",
                  sent, f"The call with {company} on {day(when)} at {clock(*hour)} is set up.\n\nDial-in: {dial}\n"
                        f"Participant passcode: {passcode}\n\nAgenda:\n1. {items[0]}\n2. {items[1]}\n3. Next steps"
                        f"\n\n{host.first}")
    if ask:
        box.ask(rng.choice([f"What's the passcode for the {company} conference call?",
                            f"What passcode do I use for the call with {company}?"]), passcode, [m1], realistic=0.9,
                by=when)
        if rng.random() < 0.4:
            box.ask(f"What's the dial-in number for the call with {company}?", dial, [m1], realistic=0.8, by=when)


DESKS = ["the Central desk", "the East Power desk", "Gas Structuring", "the Weather desk", "Canada Origination",
         "the LNG group", "Coal Trading", "the Midwest desk"]


def budget(box: Mailbox, ask: bool) -> None:
    rng, me = box.rng, box.owner
    finance = box.colleague("finance")
    desk = box.fresh("desk", DESKS)
    sent = box.at(box.story_day())
    year, total, heads = sent.year + 1, rng.randint(18, 95) / 10, rng.randint(6, 40)
    item = rng.choice(["consultants", "systems", "travel", "data feeds", "new hires"])
    name = f"{desk.removeprefix('the ').replace(' ', '_')}_{year}_plan.xls"
    m1 = box.mail(finance, [me], f"{year} plan - {desk.removeprefix('the ')}", sent,
                  f"{me.first},\n\nAttached is the {year} plan for {desk}. Total expense budget comes to "
                  f"${total:.1f} million, with {heads} headcount, up from {heads - rng.randint(1, 5)} this year. The "
                  f"biggest increase is in {item}.\n\nWe need to turn this in to the Office of the Chairman by "
                  f"{day(ahead(box, sent, 3, 9))}.\n\n{finance.first}",
                  attachments=[(name, f"Plan {year}\t{desk}\nExpense\t{total:.1f}\nHeadcount\t{heads}\n".encode())])
    if ask:
        box.ask(rng.choice([f"What's the total expense budget in the {year} plan for {desk}?",
                            f"How much is the {year} expense budget for {desk}?"]),
                f"${total:.1f} million", [m1], realistic=0.8)


STORIES = [meeting, capacity, power_trade, travel, new_hire, pep_deadline, contract, site_visit, conference_call,
           budget]


# ----------------------------------------------------------------------------------------------------------------
# Office chatter and newsletters: no questions, lots of words


RESTAURANTS = ["Treebeards", "Irma's", "Ninfa's on Navigation", "Birraporetti's", "the Post Oak Grill", "Goode Co."]


def noise(box: Mailbox) -> None:
    rng, me = box.rng, box.owner
    when = box.at(box.story_day(), 6, 18)
    kind = rng.randrange(8)
    folder = rng.choice(("inbox", "inbox", "inbox", "deleted_items", "personal"))
    if kind == 0:
        prices = "".join(f"<tr><td>{hub}</td><td>${rng.randint(250, 980) / 100:.2f}</td></tr>"
                         for hub in rng.sample(["Henry Hub", "Katy", "Waha", "Chicago", "SoCal", "Opal"], 4))
        text = "Energy Insight Daily\n\nGas prices rose again on weather. See the web version for the table."
        box.mail(Person("Energy", "Insight", "daily@energyinsight.com", "Energy Insight"), [me],
                 f"Energy Insight Daily - {when:%B} {when.day}, {when.year}", when, text, folder=folder,
                 html=f"<html><body><h1>Energy Insight Daily</h1><table>{prices}</table></body></html>")
    elif kind == 1:
        friend = rng.choice(box.cast.internal)
        m = box.mail(friend, [me], f"Lunch {when:%A}?", when, f"Want to try {rng.choice(RESTAURANTS)} at "
                                                              f"{clock(rng.randint(11, 12), 30)}?", folder=folder)
        if rng.random() < 0.5:
            box.reply(m, me, rng.choice(["Sure, meet you downstairs.", "Can't today, rain check?"]))
    elif kind == 2:
        box.mail(Person("IT", "Communications", "it.communications@enron.com"), [me],
                 rng.choice(["Outlook migration this weekend", "Network outage Saturday", "New VPN software"]), when,
                 f"Systems in the Enron Building will be unavailable from {clock(rng.randint(18, 22))} Saturday "
                 "until 6:00 AM Sunday. Please log off before leaving on Friday.\n\nIT Communications", folder=folder)
    elif kind == 3:
        box.mail(rng.choice(box.cast.internal), [me], f"Fantasy football - week {rng.randint(1, 16)}", when,
                 f"Standings attached in spirit. {rng.choice(box.cast.internal).first} is still in last place.",
                 folder="personal")
    elif kind == 4:
        box.mail(Person("Enron", "Announcements", "announcements@enron.com"), [me],
                 rng.choice(["United Way campaign kickoff", "Blood drive in the lobby", "Holiday party details"]),
                 when, "Join us in the Enron Building lobby.", html="<p>Join us in the <b>Enron Building</b> lobby."
                                                                    "</p>", folder=folder)
    elif kind == 5:
        box.mail(me, [rng.choice(box.cast.internal)], rng.choice(["Curve question", "Quick one", "Friday"]), when,
                 rng.choice(["Can you send me the latest forward curve?", "Do you have the storage report?",
                             "Call me when you get a minute."]))
    elif kind == 6:
        box.mail(Person("iPayit", "Expenses", "ipayit@enron.com"), [me], f"Expense report {rng.randint(10000, 99999)}"
                 " approved", when, f"Your expense report for ${rng.randint(40, 2400)}.{rng.randint(10, 99)} was "
                                    "approved.", folder=folder)
    else:
        who = rng.choice(box.cast.external)
        box.mail(who, [me], rng.choice(["Golf next week", "Good to see you", "Re: conference"]), when,
                 f"{me.first},\n\nGood seeing you at the {rng.choice(['IPAA', 'NGSA', 'AGA'])} meeting. Let's catch up "
                 f"soon.\n\n{who.name}\n{who.company}", folder=folder)


def fill_mailbox(box: Mailbox, per_user: int) -> None:
    """Every story once with questions, four again as distractors, then chatter up to `per_user` messages."""
    for story in STORIES:
        story(box, ask=True)
    for story in box.rng.sample(STORIES, 4):
        story(box, ask=False)
    while len(box.mails) < per_user:
        noise(box)


# ----------------------------------------------------------------------------------------------------------------
# Malformed files: what a loader must count and survive


MALFORMED = ["bad_bytes", "unknown_charset", "missing_headers", "broken_date", "bad_encoded_word", "cut_multipart",
             "empty_file"]


def malformed_bytes(problem: str, box: Mailbox) -> bytes:
    """The bytes of one malformed message of kind `problem` (one of MALFORMED)."""
    rng, me = box.rng, box.owner
    when = box.at(box.story_day())
    mid = f"<{rng.randrange(10**7, 10**8)}.{rng.randrange(10**12)}.JavaMail.evans@thyme>"
    sender = rng.choice(box.cast.internal).address
    head = f"Message-ID: {mid}\nDate: {houston_date(when)}\nFrom: {sender}\nTo: {me.address}\n"
    if problem == "bad_bytes":  # says UTF-8, holds Windows-1252
        return (head + "Subject: Caf\xe9 menu\nContent-Type: text/plain; charset=utf-8\n"
                "Content-Transfer-Encoding: 8bit\n\n").encode() + b"\x93Soup du jour\x94 \x96 caf\xe9 au lait\n"
    if problem == "unknown_charset":
        return (head + "Subject: Notes\nContent-Type: text/plain; charset=\"x-enron-notes\"\n\n").encode() + \
            b"Meeting notes from the \xa7 12 review.\n"
    if problem == "missing_headers":  # no Message-ID, Date, From or To
        return b"Subject: (no subject)\nX-FileName: unknown.nsf\n\nforwarded from a pager\n"
    if problem == "broken_date":
        return (f"Message-ID: {mid}\nDate: Tuesday sometime in May\nFrom: {me.address}\nTo: {me.address}\n"
                "Subject: reminder\n\nCall the bank.\n").encode()
    if problem == "bad_encoded_word":
        return (head.replace(f"From: {sender}\n", "") +
                "From: =?unknown-8bit?Q?J=F6rg_Weller?= <jweller@enron.com>\nSubject: =?utf-8?B?not base64!?=\n\n"
                "See subject.\n").encode()
    if problem == "cut_multipart":  # the file ends inside an attachment, with no closing boundary
        return (head + "Subject: Scan\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"cut42\"\n\n"
                "--cut42\nContent-Type: text/plain\n\nScan attached.\n--cut42\nContent-Type: application/pdf\n"
                "Content-Transfer-Encoding: base64\n\nJVBERi0xLjMKJcfs").encode()
    if problem == "empty_file":
        return b""
    raise ValueError(f"unknown malformed kind {problem!r}")
