"""Word banks of the simulator: catalog, people, places and promotions (review text: ``review_vocab``)."""

from __future__ import annotations

#: top-level category -> (base price in dollars, brands, {subcategory: nouns})
CATALOG: dict[str, tuple[float, tuple[str, ...], dict[str, tuple[str, ...]]]] = {
    "Electronics": (
        120.0,
        ("Voltix", "Nordwave", "Auralis", "Kestrel", "Pixelon"),
        {
            "Audio": ("Headphones", "Earbuds", "Speaker", "Soundbar"),
            "Computing": ("Keyboard", "Mouse", "Monitor", "Webcam", "Laptop Stand"),
            "Phone Accessories": ("Charger", "Power Bank", "Phone Case", "Cable"),
        },
    ),
    "Home & Kitchen": (
        45.0,
        ("Casa Verde", "Hearthly", "Oakmere", "Brightpan", "Lumo"),
        {
            "Cookware": ("Frying Pan", "Saucepan", "Dutch Oven", "Wok"),
            "Appliances": ("Blender", "Kettle", "Toaster", "Coffee Maker"),
            "Decor": ("Lamp", "Vase", "Throw Pillow", "Wall Clock"),
        },
    ),
    "Fashion": (
        40.0,
        ("Urbanthread", "Marlowe", "Kindred", "Solstice", "Northpeak"),
        {
            "Tops": ("T-Shirt", "Hoodie", "Sweater", "Blouse"),
            "Bottoms": ("Jeans", "Chinos", "Shorts", "Skirt"),
            "Shoes": ("Sneakers", "Boots", "Sandals", "Loafers"),
        },
    ),
    "Beauty": (
        22.0,
        ("Glowen", "Purely", "Velvetine", "Aloha Skin", "Mira"),
        {
            "Skincare": ("Moisturizer", "Serum", "Cleanser", "Sunscreen"),
            "Haircare": ("Shampoo", "Conditioner", "Hair Oil", "Hair Mask"),
            "Makeup": ("Lipstick", "Mascara", "Foundation", "Eyeliner"),
        },
    ),
    "Sports & Outdoors": (
        55.0,
        ("Trailfox", "Summit", "Apexa", "Riverline", "Kinetic"),
        {
            "Fitness": ("Yoga Mat", "Dumbbell Set", "Resistance Bands", "Jump Rope"),
            "Camping": ("Tent", "Sleeping Bag", "Headlamp", "Camp Stove"),
            "Cycling": ("Bike Helmet", "Bike Light", "Water Bottle", "Cycling Gloves"),
        },
    ),
    "Toys & Games": (
        28.0,
        ("Playnest", "Brickwise", "Wonderbox", "Tinker", "Jolly"),
        {
            "Board Games": ("Strategy Game", "Party Game", "Puzzle", "Card Game"),
            "Building Sets": ("Castle Set", "Robot Kit", "Train Set", "Space Set"),
            "Plush": ("Teddy Bear", "Plush Dragon", "Plush Bunny", "Plush Fox"),
        },
    ),
    "Books": (
        16.0,
        ("Penwick Press", "Lanternhouse", "Bluequill", "Meridian", "Foxglove"),
        {
            "Fiction": ("Novel", "Short Stories", "Thriller", "Fantasy Saga"),
            "Non-fiction": ("Biography", "History", "Science Guide", "Essays"),
            "Cooking": ("Cookbook", "Baking Guide", "Vegan Cookbook", "Grill Guide"),
        },
    ),
    "Grocery": (
        12.0,
        ("Harvest Lane", "Greenfield", "Daily Crust", "Roastery", "Sweetbay"),
        {
            "Coffee & Tea": ("Coffee Beans", "Green Tea", "Espresso Pods", "Herbal Tea"),
            "Snacks": ("Granola", "Trail Mix", "Dark Chocolate", "Crackers"),
            "Pantry": ("Olive Oil", "Pasta", "Honey", "Spice Set"),
        },
    ),
}

#: categories whose products come in sizes, and those that come in colours only
SIZED_CATEGORIES = ("Fashion", "Sports & Outdoors")
COLOURED_CATEGORIES = ("Electronics", "Home & Kitchen")
SIZES = ("S", "M", "L", "XL")
COLORS = ("Black", "White", "Navy", "Red", "Green", "Grey")
ADJECTIVES = (
    "Classic", "Pro", "Essential", "Ultra", "Eco", "Compact", "Deluxe", "Smart", "Everyday", "Premium",
)
WAREHOUSES = ("us-east", "us-west", "eu-central")

FIRST_NAMES = (
    "James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael", "Linda", "David", "Elizabeth",
    "William", "Barbara", "Richard", "Susan", "Joseph", "Jessica", "Thomas", "Sarah", "Carlos", "Karen",
    "Daniel", "Lisa", "Matthew", "Nancy", "Anthony", "Sofia", "Mark", "Emma", "Liam", "Olivia", "Noah",
    "Ava", "Lucas", "Mia", "Mateo", "Amelia", "Ethan", "Harper", "Leo", "Chloe", "Yuki", "Aisha", "Omar",
    "Priya", "Arjun", "Mei", "Hannah", "Jonas", "Lena", "Pierre",
)
LAST_NAMES = (
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez", "Martinez",
    "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor", "Moore", "Jackson", "Martin",
    "Lee", "Perez", "Thompson", "White", "Harris", "Sanchez", "Clark", "Ramirez", "Lewis", "Robinson",
    "Walker", "Young", "Allen", "King", "Wright", "Scott", "Nguyen", "Hill", "Flores", "Green", "Adams",
    "Nelson", "Baker", "Hall", "Rivera", "Campbell", "Mitchell", "Mueller", "Dubois", "Tanaka",
)
EMAIL_DOMAINS = ("example.com", "mail.example.org", "inbox.example.net", "post.example.io")
#: country code -> (share of users, cities, phone prefix)
COUNTRIES: dict[str, tuple[float, tuple[str, ...], str]] = {
    "US": (0.55, ("New York", "Chicago", "Austin", "Seattle", "Denver", "Miami"), "+1"),
    "GB": (0.10, ("London", "Manchester", "Leeds", "Bristol"), "+44"),
    "CA": (0.08, ("Toronto", "Vancouver", "Montreal"), "+1"),
    "DE": (0.08, ("Berlin", "Hamburg", "Munich"), "+49"),
    "FR": (0.06, ("Paris", "Lyon", "Marseille"), "+33"),
    "AU": (0.05, ("Sydney", "Melbourne", "Brisbane"), "+61"),
    "NL": (0.04, ("Amsterdam", "Rotterdam", "Utrecht"), "+31"),
    "ES": (0.04, ("Madrid", "Barcelona", "Valencia"), "+34"),
}

TRAFFIC_SOURCES = ("direct", "organic_search", "paid_search", "email", "social", "affiliate")
TRAFFIC_WEIGHTS = (0.30, 0.25, 0.15, 0.15, 0.10, 0.05)
#: the traffic segment that appears after the drift cut-over
DRIFT_TRAFFIC_SOURCE = "social_video"

PAYMENT_TYPES = ("credit_card", "debit_card", "paypal", "apple_pay", "gift_card")
PAYMENT_WEIGHTS = (0.45, 0.20, 0.20, 0.10, 0.05)
FAILURE_REASONS = ("card_declined", "insufficient_funds", "expired_card", "fraud_suspected", "gateway_timeout")

CAMPAIGN_THEMES = (
    "Spring Sale", "Weekend Flash", "Summer Savings", "Back to School", "Autumn Deals", "Member Week",
    "Holiday Preview", "Clearance", "Mid-Season Sale", "Bundle Bonanza", "Gift Guide", "New Arrivals",
)
