"""Word banks of the simulated review text: aspects per top-level category, verdicts, negations,
intensifiers and neutral filler.

The banks are deliberately overlapping so that sentiment is not a matter of spotting one word:
"disappointed" appears in positive text ("never disappointed") and negative text ("very
disappointed"); "bad" in neutral and positive text ("not bad"); "great" in neutral and negative
text ("not great"); mixed reviews carry aspects of both polarities. Placeholders: ``{noun}`` (the
product's noun, lower case), ``{aspect}``, ``{good}``/``{bad}`` (an aspect's descriptors),
``{int}`` (an intensifier, possibly empty).
"""

from __future__ import annotations

#: top-level category -> aspect -> (positive descriptors, negative descriptors)
ASPECTS: dict[str, dict[str, tuple[tuple[str, ...], tuple[str, ...]]]] = {
    "Electronics": {
        "battery life": (("lasts all day", "is {int}impressive", "holds a charge well"),
                         ("dies within hours", "is {int}short", "drains overnight")),
        "sound": (("is crisp", "is {int}rich and clear", "has deep bass"),
                  ("crackles", "is tinny", "distorts at high volume")),
        "connection": (("pairs instantly", "is rock solid", "never drops"),
                       ("keeps dropping", "is flaky", "takes ages to pair")),
        "build quality": (("feels solid", "is {int}sturdy", "is premium"),
                          ("feels flimsy", "is {int}cheap", "creaks")),
        "charging": (("is fast", "works with every cable", "is quick"),
                     ("is painfully slow", "overheats", "stopped working")),
        "buttons": (("are responsive", "click nicely", "are easy to reach"),
                    ("stick", "are unresponsive", "are awkward")),
    },
    "Home & Kitchen": {
        "non-stick coating": (("works beautifully", "is {int}slick", "cleans up easily"),
                              ("peeled off", "scratches easily", "is already worn")),
        "heating": (("is even", "is quick", "heats up in seconds"),
                    ("is uneven", "takes forever", "leaves cold spots")),
        "handle": (("stays cool", "feels sturdy", "is comfortable"),
                   ("gets hot", "wobbles", "came loose")),
        "finish": (("looks {int}elegant", "is spotless", "matches my kitchen"),
                   ("chipped", "looks cheap", "has scratches")),
        "lid": (("fits snugly", "seals well", "is solid"),
                ("rattles", "does not fit", "cracked")),
        "size": (("is just right", "fits my counter", "is generous"),
                 ("is too small", "is bulky", "takes up too much space")),
    },
    "Fashion": {
        "fit": (("is {int}flattering", "is true to size", "is spot on"),
                ("runs small", "is {int}baggy", "is all wrong")),
        "fabric": (("is soft", "feels {int}luxurious", "breathes well"),
                   ("is scratchy", "pills after one wash", "feels {int}cheap")),
        "stitching": (("is neat", "is solid", "holds up"),
                      ("came apart", "is sloppy", "is loose")),
        "colour": (("is vibrant", "matches the photos", "stays bright after washing"),
                   ("faded after one wash", "looks nothing like the photos", "bled in the wash")),
        "comfort": (("is {int}great all day", "is excellent", "needs no breaking in"),
                    ("is poor", "gave me blisters", "is {int}uncomfortable")),
        "sole": (("grips well", "is cushioned", "is durable"),
                 ("wore through", "is slippery", "is stiff")),
    },
    "Beauty": {
        "scent": (("is lovely", "is subtle", "is {int}fresh"),
                  ("is overpowering", "smells chemical", "is {int}unpleasant")),
        "texture": (("is silky", "absorbs quickly", "is lightweight"),
                    ("is greasy", "is sticky", "feels {int}heavy")),
        "results": (("are visible in a week", "are {int}noticeable", "speak for themselves"),
                    ("are nonexistent", "took forever", "are {int}underwhelming")),
        "packaging": (("is pretty", "is travel friendly", "is sturdy"),
                      ("leaks", "is wasteful", "broke")),
        "skin feel": (("is calm and soft", "is {int}hydrated", "is smooth"),
                      ("is irritated", "broke out", "is dry and tight")),
        "staying power": (("lasts all day", "is {int}impressive", "survives a workout"),
                          ("fades by noon", "is {int}weak", "smudges")),
    },
    "Sports & Outdoors": {
        "grip": (("is excellent", "is {int}secure", "never slips"),
                 ("is slippery", "is poor", "wears off")),
        "durability": (("is outstanding", "is {int}impressive", "survived a whole season"),
                       ("is poor", "is {int}disappointing", "lasted two outings")),
        "weight": (("is light", "is barely noticeable", "is perfect for hiking"),
                   ("is heavy", "is {int}awkward", "is a burden on long trips")),
        "waterproofing": (("kept me dry", "works", "held up in heavy rain"),
                          ("leaked", "failed in light rain", "is useless")),
        "setup": (("is quick", "takes minutes", "is {int}easy"),
                  ("is a nightmare", "is {int}confusing", "needs tools not included")),
        "padding": (("is comfortable", "is thick", "is {int}supportive"),
                    ("is thin", "flattened quickly", "is {int}hard")),
    },
    "Toys & Games": {
        "pieces": (("fit together well", "are sturdy", "are {int}well made"),
                   ("were missing", "snap easily", "do not fit")),
        "instructions": (("are clear", "are easy to follow", "are {int}helpful"),
                         ("are confusing", "are missing steps", "are {int}unclear")),
        "replay value": (("is high", "is {int}great", "keeps us coming back"),
                         ("is low", "is nonexistent", "wore off in a day")),
        "fun factor": (("is {int}high", "is off the charts", "kept the kids busy"),
                       ("is low", "is {int}lacking", "bored the kids")),
        "stitching": (("is tight", "is neat", "survived the washing machine"),
                      ("came loose", "split", "is {int}sloppy")),
        "rules": (("are simple", "are clever", "are quick to learn"),
                  ("are muddled", "are {int}complicated", "contradict each other")),
    },
    "Books": {
        "plot": (("is gripping", "is {int}clever", "kept me up at night"),
                 ("drags", "is {int}predictable", "goes nowhere")),
        "writing": (("is beautiful", "is {int}sharp", "flows"),
                    ("is clumsy", "is {int}dull", "is full of clichés")),
        "characters": (("feel real", "are {int}memorable", "are well drawn"),
                       ("are flat", "are {int}forgettable", "are cardboard")),
        "recipes": (("work every time", "are {int}clear", "are easy to follow"),
                    ("do not work", "have wrong quantities", "are {int}vague")),
        "print quality": (("is crisp", "is {int}lovely", "is sharp"),
                          ("is blurry", "is smudged", "is {int}poor")),
        "research": (("is thorough", "is {int}solid", "is well sourced"),
                     ("is shallow", "is sloppy", "is {int}thin")),
    },
    "Grocery": {
        "taste": (("is {int}delicious", "is rich", "is perfectly balanced"),
                  ("is bland", "is {int}bitter", "is stale")),
        "freshness": (("is excellent", "is {int}great", "is like straight from the farm"),
                      ("is poor", "is questionable", "was past its best")),
        "aroma": (("is {int}wonderful", "fills the kitchen", "is lovely"),
                  ("is musty", "is faint", "is off")),
        "packaging": (("keeps it fresh", "reseals well", "is sturdy"),
                      ("was torn", "does not reseal", "arrived crushed")),
        "portion": (("is generous", "is good value", "lasts a while"),
                    ("is tiny", "is {int}stingy", "ran out fast")),
        "texture": (("is perfect", "is crunchy", "is smooth"),
                    ("is soggy", "is chalky", "is gritty")),
    },
}

#: intensifiers, weak to strong; the empty string means none
INTENSIFIERS: tuple[str, ...] = ("really ", "very ", "super ", "extremely ", "incredibly ", "so ", "absolutely ",
                                 "truly ", "pretty ", "quite ")

#: titles by the text's sentiment; negated forms of the other polarity included on purpose
TITLES: dict[str, tuple[str, ...]] = {
    "negative": (
        "Very disappointed", "Terrible quality", "Broke quickly", "Would not recommend", "Waste of money",
        "Awful experience", "Poor product", "Not worth it", "Not good at all", "Never again", "Do not buy",
        "Returned it", "Fell apart", "Not happy", "Save your money", "Junk", "Big letdown", "Not as described",
        "Cheaply made", "Regret this purchase", "Not great", "Stopped working",
    ),
    "neutral": (
        "It is okay", "Average product", "Does the job", "Decent but not special", "Mixed feelings",
        "As expected", "Not bad, not great", "Fine", "Meh", "Could be better", "So-so", "Okay for the price",
        "Some pros some cons", "Middle of the road", "Not amazing", "Nothing special", "Three stars",
        "Good and bad", "Alright", "Average at best",
    ),
    "positive": (
        "Excellent purchase", "Love it", "Great quality", "Highly recommend", "Fantastic value", "Perfect gift",
        "Really happy", "Not disappointed", "Never disappointed", "No complaints", "Exceeded expectations",
        "Better than expected", "Would buy again", "Five stars", "Superb", "Worth every penny", "Not bad at all",
        "Can't fault it", "Brilliant", "Spot on", "Just what I needed", "Impressed",
    ),
}
#: generic titles that say nothing of sentiment
NEUTRAL_TITLES: tuple[str, ...] = ("My review", "Review", "Thoughts", "First impressions", "After a month",
                                   "Update", "Honest review", "{noun}")

#: overall verdicts by the text's sentiment ({noun}, {int})
VERDICTS: dict[str, tuple[str, ...]] = {
    "negative": (
        "The {noun} is {int}terrible and broke after a week.",
        "{int}disappointed with this {noun}.",
        "This {noun} is {int}awful and cheaply made.",
        "I regret buying this {noun}.",
        "Not worth the money at all.",
        "The {noun} never worked properly.",
        "I am not happy with this {noun}.",
        "Honestly not good.",
        "I would not recommend this {noun} to anyone.",
        "It is not great, it is {int}bad.",
        "Not what I expected, {int}poor.",
        "Total waste of money.",
        "It stopped working and support never answered.",
        "Nothing about this {noun} is good.",
        "I can't recommend it.",
        "It does not do what it promises.",
    ),
    "neutral": (
        "The {noun} is okay for the price.",
        "This {noun} is average, nothing special.",
        "The {noun} works as described, but it is fairly plain.",
        "An ordinary {noun} that does the job.",
        "Not bad, not great.",
        "It is fine, I guess.",
        "Neither good nor bad.",
        "Does what it says, no more no less.",
        "It is alright but I expected a bit more.",
        "Some things I like, some I don't.",
        "Decent, but there are better options.",
        "Middle of the road {noun}.",
        "It is {int}average.",
        "I have mixed feelings about this {noun}.",
        "Not terrible, just not amazing.",
        "Acceptable, nothing to write home about.",
    ),
    "positive": (
        "The {noun} is {int}excellent and works perfectly.",
        "I love this {noun}.",
        "This {noun} is {int}fantastic and well made.",
        "{int}amazing {noun}, better than I expected.",
        "Never disappointed with this brand.",
        "No complaints at all.",
        "Not bad at all, actually {int}good.",
        "I can't fault this {noun}.",
        "It has not let me down once.",
        "I was not disappointed.",
        "{int}happy with this {noun}.",
        "Couldn't be happier.",
        "Nothing to complain about.",
        "The {noun} is {int}great.",
        "Worth every penny.",
        "Exactly what I was looking for.",
    ),
}

#: closing lines by the text's sentiment; often omitted
CLOSINGS: dict[str, tuple[str, ...]] = {
    "negative": (
        "Would not recommend it.", "I am returning it and asking for a refund.", "Customer service was unhelpful too.",
        "Save your money and buy something else.", "Never buying from this brand again.", "Avoid.",
        "One star is generous.", "Not impressed.",
    ),
    "neutral": (
        "It might suit some people.", "I have no strong opinion either way.", "Fine for everyday use.",
        "Might look for something else next time.", "Three stars.", "It will do for now.",
        "Not sure I would buy it again.", "Okay if it is on sale.",
    ),
    "positive": (
        "Highly recommend it!", "I would happily buy it again.", "Five stars, very happy with it.",
        "Already ordered another one.", "Recommended to all my friends.", "Would definitely recommend.",
        "Great value.", "Love love love it.",
    ),
}

#: sentiment-free filler about delivery, use and context
FILLER: tuple[str, ...] = (
    "Delivery took the usual time.", "It arrived on Tuesday.", "I bought it as a gift for my sister.",
    "I have been using it for two weeks.", "Ordered it after reading the reviews.", "The box was plain.",
    "I use it every day.", "My partner picked the colour.", "It came in a recyclable box.",
    "I had the previous version before.", "Bought it during the sale.", "It replaced an older one.",
    "I checked the size chart first.", "Tracking updated twice.", "We use it on weekends.",
)

#: aspect sentence templates: a good or a bad aspect, and the two joined in a mixed sentence
GOOD_ASPECT: tuple[str, ...] = ("The {aspect} {good}.", "I like that the {aspect} {good}.", "Pros: the {aspect} {good}.")
BAD_ASPECT: tuple[str, ...] = ("The {aspect} {bad}.", "Sadly the {aspect} {bad}.", "Cons: the {aspect} {bad}.")
MIXED_GOOD_THEN_BAD: tuple[str, ...] = ("The {aspect} {good}, but the {aspect2} {bad}.",
                                        "While the {aspect} {good}, the {aspect2} {bad}.")
MIXED_BAD_THEN_GOOD: tuple[str, ...] = ("The {aspect2} {bad}, but the {aspect} {good}.",
                                        "Although the {aspect2} {bad}, the {aspect} {good}.")

#: short mobile-style words that appear after the drift cut-over (new vocabulary, shorter texts)
DRIFT_SLANG: dict[str, tuple[str, ...]] = {
    "negative": ("trash tbh", "total scam lol", "nope, broke day 2", "zero stars if i could", "ugh, returning"),
    "neutral": ("meh", "mid tbh", "its ok i guess", "fine ig", "kinda mid"),
    "positive": ("obsessed!!", "legit amazing", "10/10 fr", "slaps, love it", "absolute fire"),
}
