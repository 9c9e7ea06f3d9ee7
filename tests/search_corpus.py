"""A small hand-written corpus for end-to-end search tests: eight topics, four papers each."""

from __future__ import annotations

from datetime import date

from paperscope.model import Paper

TOPICS: dict[str, tuple[str, list[tuple[str, str]]]] = {
    "cs.CV": ("Vision", [
        ("Object detection in street images", "A detector finds cars and pedestrians in photos."),
        ("Semantic segmentation of satellite imagery", "Pixels of aerial photographs are labelled as roads."),
        ("Image classification with vision transformers", "Patches of an image are fed to a transformer."),
        ("Depth estimation from a single camera", "A network predicts how far each pixel is from the lens."),
    ]),
    "q-bio.BM": ("Biology", [
        ("Protein structure prediction", "Amino acid sequences are folded into three-dimensional shapes."),
        ("Enzyme kinetics under heat stress", "Reaction rates of enzymes change when cells get hot."),
        ("Antibody binding affinity", "We measure how strongly antibodies attach to viral proteins."),
        ("Gene expression in yeast", "Transcription levels of yeast genes respond to sugar."),
    ]),
    "astro-ph.GA": ("Astronomy", [
        ("Dark matter halos of dwarf galaxies", "Rotation curves constrain the mass of small galaxies."),
        ("Star formation in spiral arms", "Molecular clouds collapse into young stars along the arms."),
        ("Black hole mergers observed by gravitational waves", "Detectors register ripples in spacetime."),
        ("Exoplanet atmospheres seen by transit spectroscopy", "Starlight filtered by a planet's air."),
    ]),
    "cs.CL": ("Language", [
        ("Machine translation between low-resource languages", "Sentences are translated with little data."),
        ("Question answering over long documents", "A reader model finds answers in long texts."),
        ("Summarising news articles", "Abstractive summaries of newspaper stories are generated."),
        ("Sentiment analysis of product reviews", "Customer reviews are classified as positive or negative."),
    ]),
    "econ.GN": ("Economics", [
        ("Inflation expectations of households", "Surveys show how consumers anticipate rising prices."),
        ("Minimum wage effects on employment", "Raising the wage floor changes hiring in restaurants."),
        ("Housing prices and interest rates", "Mortgage rates drive the cost of homes."),
        ("Trade tariffs and exports", "Import taxes reduce the exports of partner countries."),
    ]),
    "cs.RO": ("Robotics", [
        ("Legged robots walking on rough terrain", "A quadruped learns to walk over rocks and stairs."),
        ("Robotic grasping of unknown objects", "A robot hand picks up items it has never seen."),
        ("Drone navigation in forests", "Small aerial vehicles avoid trees while flying."),
        ("Autonomous driving motion planning", "Self-driving cars plan safe trajectories in traffic."),
    ]),
    "physics.ao-ph": ("Climate", [
        ("Sea level rise from melting glaciers", "Ice sheets lose mass and oceans rise."),
        ("Hurricane intensity in a warming climate", "Tropical cyclones grow stronger over warm seas."),
        ("Drought prediction with soil moisture", "Dry soils foreshadow agricultural drought."),
        ("Urban heat islands", "Cities are hotter than the countryside around them."),
    ]),
    "math.NT": ("Mathematics", [
        ("Distribution of prime numbers", "Gaps between consecutive primes are bounded."),
        ("Elliptic curves over finite fields", "Points on elliptic curves are counted modulo p."),
        ("Diophantine equations with three variables", "Integer solutions of cubic equations are found."),
        ("Modular forms and their coefficients", "Fourier coefficients of modular forms obey congruences."),
    ]),
}

AUTHORS = ["Ada Lovelace", "Alan Turing", "Grace Hopper", "Jürgen Müller"]


def corpus() -> list[Paper]:
    """32 papers; the n-th paper of a topic is listed in month 3+n of 2025 and written by AUTHORS[n]."""
    papers = []
    n = 0
    for category, (_name, items) in TOPICS.items():
        for i, (title, abstract) in enumerate(items):
            n += 1
            papers.append(Paper(arxiv_id=f"2503.{n:05d}", version=1, title=title, abstract=abstract,
                                authors=(AUTHORS[i],), categories=(category,), listed=date(2025, 3 + i, 10),
                                source="test"))
    return papers
